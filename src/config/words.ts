/**
 * A command given as one string (an input, a flag, a variable, a config key) becomes an argument array without a
 * shell, so it runs the same on Linux and Windows and nothing in it is expanded. The rules are the shell's quoting,
 * kept small:
 * - space, tab and newline separate words;
 * - 'single quotes' keep everything as written;
 * - "double quotes" keep everything but \", which is a double quote;
 * - parts written next to each other join into one word (--name="a b" is --name=a b); '' or "" is an empty word;
 * - outside quotes, a backslash escapes a following ' or "; any other backslash is kept, so Windows paths
 *   (C:\tools\migrate.exe, \\server\share, robocopy C:\src\ D:\dst\) need no doubling;
 * - a backslash that ends a line after a space joins the line to the next (a command pasted from a script);
 * - $VAR, *, ~ and the like are kept as written.
 * A word that is exactly a shell operator (&&, |, > …) is refused: the user expects a shell that is not there.
 */

const OPERATORS: ReadonlySet<string> = new Set(['&&', '||', '|', ';', '>', '>>', '<', '2>&1', '&']);

// \r too: a CRLF line break must not leave a stray \r at the end of a word.
const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

const QUOTE_NAMES: Record<string, string> = { "'": 'single quote', '"': 'double quote' };

export function splitWords(text: string): { words: string[] } | { problem: string } {
  const words: string[] = [];
  let word = '';
  // A word may be empty ('') and still be a word; and only a word written wholly bare can be an operator.
  let started = false;
  let bare = true;

  const end = (): string | undefined => {
    if (!started) return undefined;
    if (bare && OPERATORS.has(word)) {
      return (
        `${word} is a shell operator, but the command is not run by a shell; write sh -c '...' to use one ` +
        `(or quote it, '${word}', to pass it as an argument)`
      );
    }
    words.push(word);
    word = '';
    started = false;
    bare = true;
    return undefined;
  };

  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const next = text[i + 1] ?? '';
    if (WHITESPACE.has(c)) {
      const problem = end();
      if (problem) return { problem };
    } else if (c === "'" || c === '"') {
      const close = closingQuote(text, i);
      if (close < 0) return { problem: unterminated(text, i) };
      const inner = text.slice(i + 1, close);
      word += c === '"' ? inner.replace(/\\"/g, '"') : inner;
      started = true;
      bare = false;
      i = close;
    } else if (c === '\\' && !started && (next === '\n' || (next === '\r' && text[i + 2] === '\n'))) {
      // A line continuation, as in a shell script pasted into a YAML block: it joins the lines and makes no word.
      // One that ends a word (dir C:\) is the word's own backslash.
      i += next === '\r' ? 2 : 1;
    } else if (c === '\\' && (next === "'" || next === '"')) {
      word += next;
      started = true;
      bare = false;
      i++;
    } else {
      word += c;
      started = true;
    }
  }
  const problem = end();
  return problem ? { problem } : { words };
}

/** The index of the quote that closes the one at `open`, or -1. Inside double quotes, \" is no closing quote. */
function closingQuote(text: string, open: number): number {
  const quote = text[open];
  for (let i = open + 1; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\' && text[i + 1] === '"') i++;
    else if (text[i] === quote) return i;
  }
  return -1;
}

function unterminated(text: string, open: number): string {
  const quote = text[open] as string;
  const problem = `the ${QUOTE_NAMES[quote]} (${quote}) at character ${open + 1} is never closed`;
  // The one trap of the rules: a double-quoted Windows path that ends in a backslash ("C:\dir\").
  return quote === '"' && text.slice(open).includes('\\"')
    ? `${problem}; inside double quotes \\" is a double quote: write a path that ends in a backslash in single quotes`
    : problem;
}

const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * The inverse of splitWords: splitWords(quoteWords(words)) gives back `words` exactly. A word of only safe
 * characters stays bare; any other (an operator such as && included, so that it stays an argument) is single-quoted.
 */
export function quoteWords(words: readonly string[]): string {
  return words.map((w) => (BARE.test(w) ? w : `'${w.replace(/'/g, `'"'"'`)}'`)).join(' ');
}
