/**
 * `tsx src/certs.ts --config router.json …`: the `certs` command run on its own (its tests start it
 * so), parsed and run as `registry-router certs …` is (src/cli/program.ts).
 */
import { main } from './adapter/node/entry.ts';

await main(['certs', ...process.argv.slice(2)]);
