import { describe, expect, it } from 'vitest';
import type { ProxyState } from '../../src/proxy/proxy.js';
import { attribute, proxyUrl, type ColorAddresses } from '../../src/proxy/verify.js';

function proxy(published: Record<number, [string, number]>): ProxyState {
  return {
    running: true,
    status: 'running',
    restartCount: 0,
    startedAt: 0,
    published: new Map(Object.entries(published).map(([k, [hostIp, hostPort]]) => [Number(k), { hostIp, hostPort }])),
  };
}

describe('proxyUrl', () => {
  it('uses the host port of the first listen port that is published', () => {
    expect(proxyUrl(proxy({ 80: ['127.0.0.1', 8080] }), [80], '127.0.0.1', '/health')).toBe(
      'http://127.0.0.1:8080/health',
    );
    expect(proxyUrl(proxy({ 8080: ['', 18080] }), [80, 8080], '10.0.0.7', '/')).toBe('http://10.0.0.7:18080/');
  });

  it('reaches a wildcard binding through health-host, a specific one at its address', () => {
    expect(proxyUrl(proxy({ 80: ['0.0.0.0', 80] }), [80], 'runner.local', '/x')).toBe('http://runner.local:80/x');
    expect(proxyUrl(proxy({ 80: ['192.168.5.4', 80] }), [80], '127.0.0.1', '/x')).toBe('http://192.168.5.4:80/x');
    expect(proxyUrl(proxy({ 80: ['::1', 80] }), [80], '127.0.0.1', '/x')).toBe('http://[::1]:80/x');
  });

  it('has no URL when nothing the proxy listens on is published, or the proxy is unknown', () => {
    expect(proxyUrl(proxy({ 443: ['127.0.0.1', 8443] }), [80], '127.0.0.1', '/')).toBeUndefined();
    expect(proxyUrl(proxy({}), [80], '127.0.0.1', '/')).toBeUndefined();
    expect(proxyUrl(undefined, [80], '127.0.0.1', '/')).toBeUndefined();
  });
});

describe('attribute', () => {
  const colors: ColorAddresses[] = [
    { color: 'blue', port: 8000, addresses: ['172.18.0.5'], containerPorts: [8000] },
    { color: 'green', port: 8001, addresses: ['172.18.0.9', 'fd00::9'], containerPorts: [8000] },
  ];
  const answer = (headers: Record<string, string>) => ({ status: 200, body: '', headers });

  it('reads the color from color-header, whatever its case', () => {
    expect(attribute(answer({ 'x-color': 'green' }), 'X-Color', colors)).toEqual({ color: 'green', how: 'X-Color' });
    expect(attribute(answer({ 'x-color': ' Blue ' }), 'X-Color', colors)).toEqual({ color: 'blue', how: 'X-Color' });
    expect(attribute(answer({ 'x-color': 'red' }), 'X-Color', colors).color).toBeUndefined();
    expect(attribute(answer({}), 'X-Color', colors)).toEqual({ how: 'no X-Color header in the answer' });
  });

  it('tells the color from X-Bluegreen-Upstream: a container address first, the published port otherwise', () => {
    expect(attribute(answer({ 'x-bluegreen-upstream': '172.18.0.9:8000' }), '', colors).color).toBe('green');
    // Both colors listen on 8000 in their containers; blue publishes 8000: the address decides, not the port.
    expect(attribute(answer({ 'x-bluegreen-upstream': '172.18.0.5:8000' }), '', colors).color).toBe('blue');
    expect(attribute(answer({ 'x-bluegreen-upstream': '[fd00::9]:8000' }), '', colors).color).toBe('green');
    // Through the host's ports (host.docker.internal:8001): the published port tells.
    expect(attribute(answer({ 'x-bluegreen-upstream': '10.0.0.5:8001' }), '', colors).color).toBe('green');
  });

  it('after retries, the last upstream Nginx tried is the one that answered', () => {
    const tried = '172.18.0.5:8000, 172.18.0.9:8000 : 172.18.0.9:8000';
    expect(attribute(answer({ 'x-bluegreen-upstream': tried }), '', colors).color).toBe('green');
  });

  it('an unknown container on the port the colors listen on is neither color, whatever port blue publishes', () => {
    const told = attribute(answer({ 'x-bluegreen-upstream': '172.30.0.9:8000' }), '', colors);
    expect(told).toEqual({ how: 'X-Bluegreen-Upstream 172.30.0.9:8000 is not an address of either color' });
  });

  it('says nothing when the answer does not tell', () => {
    expect(attribute(answer({}), '', colors)).toEqual({});
    expect(attribute(answer({ 'x-bluegreen-upstream': '10.9.9.9:9' }), '', colors).color).toBeUndefined();
    expect(attribute(answer({ 'x-bluegreen-upstream': '' }), '', colors).color).toBeUndefined();
  });
});
