// Types for scripts/release.mjs (test/unit/release.test.ts imports it directly).
export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: string[];
  build: string | undefined;
}
export type Command = [file: string, args: string[]];

/** The parts of a semantic version, or undefined when it is not one. */
export declare function parseVersion(version: string): SemVer | undefined;
/** Semantic Versioning precedence: < 0 when a < b, 0 when equal, > 0 when a > b. Throws on a non-semver. */
export declare function compareVersions(a: string, b: string): number;
/** The version to release (a leading "v" dropped); throws unless semver, without build metadata, newer than current. */
export declare function checkVersion(requested: string, current: string): string;
/** v<major>, or undefined for a pre-release. */
export declare function majorTag(version: string): string | undefined;
/** The changelog with its Unreleased section moved into "## [version] - date"; throws when it cannot be. */
export declare function releaseChangelog(text: string, version: string, date: string): string;
/** Commit, tag and move the major tag, in order. */
export declare function releaseCommands(version: string): Command[];
/** Push main and the tag, then force-push the major tag. */
export declare function pushCommands(version: string): Command[];
/** A command as one would type it. */
export declare function showCommand(command: Command): string;
