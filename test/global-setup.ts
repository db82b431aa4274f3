import { execFileSync } from 'node:child_process';

/**
 * Brings the default model repository up to date before the tests: the builder skips each model that
 * models/ already holds with the same recipe (about a second), and rebuilds one whose recipe changed, so a
 * checkout that pulled a new recipe never tests the old model.
 */
export default function setup(): void {
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-models.ts'], { stdio: 'inherit' });
}
