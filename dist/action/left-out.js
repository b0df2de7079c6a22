// Stands in for @actions/http-client, @actions/http-client/lib/auth, @actions/exec: @actions/core imports them for getIDToken() and
// platform.getDetails(), which bluegreen-action never calls (scripts/bundle.mjs). Calling either fails.
export {};
