// scratch: node --import tsx test/hardening/probe.ts <runtime>
import { startRouter, type Runtime } from '../support/router.ts';
import { BAD_REQUESTS, GOOD_REQUEST, outcome, rawRequest, siteConfig, sleep, startRawOrigin } from './support.ts';
const runtime = process.argv[2] as Runtime;
const origin = await startRawOrigin();
const router = await startRouter(runtime, siteConfig(origin.url), { quiet: true });
try {
  const good = await rawRequest(router.port, GOOD_REQUEST);
  console.log('good', outcome(good), origin.lines);
  for (const bad of BAD_REQUESTS) {
    const before = origin.bytes();
    const reply = await rawRequest(router.port, bad.bytes, 2000);
    await sleep(100);
    const got = origin.lines.slice(-1)[0];
    console.log(JSON.stringify(bad.name).padEnd(60), outcome(reply).padEnd(10), reply.closed ? 'closed' : 'open', origin.bytes() > before ? `FORWARDED ${JSON.stringify(got?.slice(0, 60))}` : '', JSON.stringify(reply.raw.slice(0, 120)));
  }
} finally {
  await router.stop();
  if (process.env.STDERR) console.log(router.stderr());
  await origin.close();
}
