/** A step failed for a reason already worded for the user. */
export class StepFailure extends Error {}

/** Recovering an unfinished deploy failed: the journal is kept for the next run. */
export class RecoveryFailure extends StepFailure {}
