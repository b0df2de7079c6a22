// Types for scripts/readme-figures.mjs (test/unit/readme-figures.test.ts imports it directly).
/** README.md and bench/results of this repository. */
export declare const README: string;
export declare const RESULTS: string;

/** Every swap benchmark's results (latest.json) under dir, by block name: `main` for dir itself, else its folder. */
export declare function readResults(dir: string): Record<string, unknown>;
/** The generated text of one block (without its markers) from that run's results. */
export declare function blockText(name: string, results: unknown): string;
/**
 * The README with every `<!-- bench:<name>:begin -->` … `<!-- bench:<name>:end -->` block generated from the results
 * under resultsDir. Throws when a results folder has no block, or a block has neither results nor a placeholder.
 */
export declare function readmeWithFigures(readme: string, resultsDir: string): string;
/** The lines of a and b that differ: `- line (line n)` for a's, `+ line (line n)` for b's. */
export declare function lineDiff(a: string, b: string): string[];
