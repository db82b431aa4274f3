/**
 * `npm run plan -- --task image/ocr --rps 20`: which tier, how much memory, how many instances, and what a
 * month costs, from the measured figures in `bench/results/` and a dated price table. Prints the plan;
 * `--svg` writes the cost chart, `--write` a configuration `cdk deploy -c inferletConfig=<file>` takes.
 * See `scripts/plan/cli.ts` for the options and docs/planning.md for how to read a plan.
 */
import { runPlanCli } from './plan/cli.ts';

const { exitCode, stdout, stderr } = runPlanCli(process.argv.slice(2));
process.stdout.write(stdout);
process.stderr.write(stderr);
process.exitCode = exitCode;
