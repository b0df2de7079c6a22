import { describe, expect, it } from 'vitest';
import { quoteWords, splitWords } from '../../src/config/words.js';

function words(text: string): string[] {
  const split = splitWords(text);
  if ('problem' in split) throw new Error(`unexpected problem: ${split.problem}`);
  return split.words;
}

function problem(text: string): string {
  const split = splitWords(text);
  if ('words' in split) throw new Error(`expected a problem, got ${JSON.stringify(split.words)}`);
  return split.problem;
}

describe('splitWords', () => {
  it('splits plain words on spaces', () => {
    expect(words('python manage.py migrate --noinput')).toEqual(['python', 'manage.py', 'migrate', '--noinput']);
  });

  it('takes runs of spaces, tabs and newlines as one separator, and ignores them at either end', () => {
    expect(words('  a \t b\n\nc\t\n d  ')).toEqual(['a', 'b', 'c', 'd']);
    expect(words('a\r\nb\r\n')).toEqual(['a', 'b']);
  });

  it('gives no words for blank input', () => {
    expect(words('')).toEqual([]);
    expect(words('   ')).toEqual([]);
    expect(words(' \t\n ')).toEqual([]);
  });

  it('keeps everything inside single quotes as written', () => {
    expect(words(`echo 'a  b' 'x"y' '\\n' '$HOME' '\\'`)).toEqual(['echo', 'a  b', 'x"y', '\\n', '$HOME', '\\']);
    expect(words(`'line one\nline two'`)).toEqual(['line one\nline two']);
  });

  it('keeps everything inside double quotes but \\", which is a double quote', () => {
    expect(words(`echo "a  b" "it's" "say \\"hi\\"" "\\n" "a\\\\b"`)).toEqual([
      'echo',
      'a  b',
      "it's",
      'say "hi"',
      '\\n',
      'a\\\\b',
    ]);
  });

  it('joins parts written next to each other into one word', () => {
    expect(words('--name="a b"')).toEqual(['--name=a b']);
    expect(words(`a'b'"c"d`)).toEqual(['abcd']);
    expect(words(`--opt='x y'z "1"'2'`)).toEqual(['--opt=x yz', '12']);
  });

  it('makes an empty word of \'\' or ""', () => {
    expect(words(`a '' b "" c`)).toEqual(['a', '', 'b', '', 'c']);
    expect(words(`''`)).toEqual(['']);
    expect(words(`"" ''`)).toEqual(['', '']);
    expect(words(`x''`)).toEqual(['x']);
    expect(words(`''""`)).toEqual(['']);
  });

  it('lets a backslash outside quotes escape a single or a double quote, and nothing else', () => {
    expect(words("it\\'s")).toEqual(["it's"]);
    expect(words('say \\"hi\\"')).toEqual(['say', '"hi"']);
    // Before a space it is the word's own: a Windows directory ends in one.
    expect(words('my\\ file.txt')).toEqual(['my\\', 'file.txt']);
    expect(words('a\\\tb')).toEqual(['a\\', 'b']);
  });

  it('takes a backslash alone at the end of a line as a line continuation', () => {
    expect(words('python manage.py \\\n  migrate')).toEqual(['python', 'manage.py', 'migrate']);
    expect(words('python manage.py \\\r\n  migrate')).toEqual(['python', 'manage.py', 'migrate']);
    // At the end of a word, it is the word's (a directory), and the line break separates.
    expect(words('dir C:\\\nmigrate')).toEqual(['dir', 'C:\\', 'migrate']);
  });

  it('keeps any other backslash as written: Windows paths need no doubling', () => {
    expect(words('C:\\tools\\migrate.exe --db "C:\\Program Files\\x"')).toEqual([
      'C:\\tools\\migrate.exe',
      '--db',
      'C:\\Program Files\\x',
    ]);
    expect(words('\\\\server\\share\\x')).toEqual(['\\\\server\\share\\x']);
    expect(words('copy a\\b\\c d')).toEqual(['copy', 'a\\b\\c', 'd']);
    expect(words('\\n \\$HOME \\*')).toEqual(['\\n', '\\$HOME', '\\*']);
  });

  it('keeps a backslash that ends a path: at the end, in single quotes, or before a space', () => {
    expect(words('dir C:\\build\\')).toEqual(['dir', 'C:\\build\\']);
    expect(words(`dir 'C:\\build\\' x`)).toEqual(['dir', 'C:\\build\\', 'x']);
    expect(words('robocopy C:\\src\\ D:\\dst\\ /E')).toEqual(['robocopy', 'C:\\src\\', 'D:\\dst\\', '/E']);
  });

  it('keeps $VAR, *, ~ and other shell characters literally', () => {
    expect(words('echo $HOME ${X:-y} *.py ~ ~/x `id` $(id) a;b a&&b !x #c')).toEqual([
      'echo',
      '$HOME',
      '${X:-y}',
      '*.py',
      '~',
      '~/x',
      '`id`',
      '$(id)',
      'a;b',
      'a&&b',
      '!x',
      '#c',
    ]);
  });

  it('keeps unicode as written', () => {
    expect(words('echo "héllo wörld" 日本 🚀')).toEqual(['echo', 'héllo wörld', '日本', '🚀']);
  });

  it('refuses an unterminated single quote, naming it and where it opens', () => {
    expect(problem("echo 'abc")).toBe("the single quote (') at character 6 is never closed");
    expect(problem(`a "b" 'c`)).toBe("the single quote (') at character 7 is never closed");
  });

  it('refuses an unterminated double quote, naming it and where it opens', () => {
    expect(problem('echo "abc')).toBe('the double quote (") at character 6 is never closed');
    expect(problem(`"it's`)).toBe('the double quote (") at character 1 is never closed');
  });

  it('says why a double-quoted path that ends in a backslash is unterminated', () => {
    expect(problem('dir "C:\\build\\"')).toBe(
      'the double quote (") at character 5 is never closed; inside double quotes \\" is a double quote: ' +
        'write a path that ends in a backslash in single quotes',
    );
  });

  it.each(['&&', '||', '|', ';', '>', '>>', '<', '2>&1', '&'])('refuses the bare operator %s', (op) => {
    const expected =
      `${op} is a shell operator, but the command is not run by a shell; write sh -c '...' to use one ` +
      `(or quote it, '${op}', to pass it as an argument)`;
    expect(problem(`python manage.py migrate ${op} echo done`)).toBe(expected);
    expect(problem(op)).toBe(expected);
    expect(problem(`a\t${op}\nb`)).toBe(expected);
  });

  it.each(['&&', '||', '|', ';', '>', '>>', '<', '2>&1', '&'])(
    'accepts the quoted operator %s as an argument',
    (op) => {
      expect(words(`echo '${op}' "${op}"`)).toEqual(['echo', op, op]);
      expect(words(`echo ''${op}`)).toEqual(['echo', op]);
      expect(words(`echo ${op}""`)).toEqual(['echo', op]);
    },
  );

  it('accepts a word that only contains an operator', () => {
    expect(words('a>b 2>&1x &x x|')).toEqual(['a>b', '2>&1x', '&x', 'x|']);
  });

  it('refuses the first operator of several', () => {
    expect(problem('a | b && c')).toMatch(/^\| is a shell operator/);
  });
});

describe('quoteWords', () => {
  it('leaves safe words bare and joins them with spaces', () => {
    expect(quoteWords(['python', 'manage.py', 'migrate', '--noinput'])).toBe('python manage.py migrate --noinput');
    expect(quoteWords(['a_b@c%d+e=f:g,h.i/j-k', 'ABC123'])).toBe('a_b@c%d+e=f:g,h.i/j-k ABC123');
  });

  it('single-quotes an empty word and any word with another character', () => {
    expect(quoteWords(['', 'a b', '$HOME', 'C:\\x', 'é'])).toBe(`'' 'a b' '$HOME' 'C:\\x' 'é'`);
  });

  it("writes a single quote as '\"'\"'", () => {
    expect(quoteWords(["it's"])).toBe(`'it'"'"'s'`);
    expect(quoteWords(["'"])).toBe(`''"'"''`);
  });

  it('quotes every operator, so that it stays an argument', () => {
    expect(quoteWords(['sh', '-c', 'a', '&&', '2>&1', ';'])).toBe(`sh -c a '&&' '2>&1' ';'`);
  });

  it('gives an empty text for no words', () => {
    expect(quoteWords([])).toBe('');
  });
});

describe('splitWords(quoteWords(words)) gives back the words', () => {
  const lists: string[][] = [
    [],
    [''],
    ['', ''],
    ['a', '', 'b'],
    ['python', 'manage.py', 'migrate', '--noinput'],
    ['sh', '-c', 'python manage.py migrate && python manage.py collectstatic --noinput'],
    ["it's", "'", "''", "'''", "a'b'c"],
    ['"', '""', 'say "hi"', `mixed '"' quotes "'"`],
    ['\\', '\\\\', 'C:\\tools\\migrate.exe', 'C:\\Program Files\\x\\', '\\\\server\\share\\x', 'ends\\'],
    ['\\"', "\\'", '\\ ', 'a\\', '\\\n'],
    [' ', '  ', '\t', '\n', '\r\n', 'a b', ' lead', 'trail ', 'multi\nline\ntext'],
    ['$HOME', '${X}', '*', '*.py', '~', '~/x', '`id`', '$(id)', '!', '#', '?'],
    ['héllo wörld', '日本語', '🚀', 'ß', '\u00a0', 'e\u0301'],
    ['&&', '||', '|', ';', '>', '>>', '<', '2>&1', '&'],
    ['echo', '&&', 'rm', '-rf', '/', '|', 'tee', '>', 'x'],
    ['--name=a b', '-e', 'KEY=value with spaces', '--opt="q"'],
    ["'\"'\"'", `'"'"'`, '\'"\\"\'', '\\\'\\"'],
  ];

  it.each(lists.map((l) => [JSON.stringify(l), l]))('%s', (_name, list) => {
    expect(splitWords(quoteWords(list))).toEqual({ words: list });
  });

  it('holds for many generated lists of tricky characters', () => {
    const pieces = [
      'a',
      'Z',
      '0',
      '-',
      '.',
      '/',
      ' ',
      '\t',
      '\n',
      "'",
      '"',
      '\\',
      '$',
      '*',
      '&',
      '|',
      ';',
      '>',
      'é',
      '🚀',
    ];
    // A fixed linear congruential sequence: the same lists on every run.
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 2000; round++) {
      const list = Array.from({ length: next(5) }, () =>
        Array.from({ length: next(6) }, () => pieces[next(pieces.length)]).join(''),
      );
      expect(splitWords(quoteWords(list)), JSON.stringify(list)).toEqual({ words: list });
    }
  });
});
