// Types for scripts/images.mjs (the TypeScript tests import it directly).
export declare const NGINX_IMAGE: 'bluegreen-test-nginx:local';
export declare const APP_IMAGE: 'bluegreen-test-app:local';
export declare const CONTENT_HASH_LABEL: 'bluegreen.content-hash';

export interface TestImages {
  nginx: string;
  app: string;
}

/** Builds the FROM-scratch test images unless up to date; returns their names. */
export declare function ensureTestImages(options?: { log?: (message: string) => void }): Promise<TestImages>;
