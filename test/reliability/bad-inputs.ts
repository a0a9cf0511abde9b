/**
 * Run by `make reliability-report` only (not a *.test.ts, so `make test` runs the hostile table
 * once, from its own file): importing the table registers its test here, and the report counts
 * the cases it runs.
 */
import { test } from "node:test";
import { HOSTILE_CASES } from "../integration/security-hostile.test.js";
import { reportFigures } from "./harness.js";

test("the hostile-input table is counted for the report", () => {
  reportFigures("bad-inputs", { bad_inputs: HOSTILE_CASES.length });
});
