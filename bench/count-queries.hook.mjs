// Diagnostic preload for the Conflux process of a bench (not loaded by Conflux itself):
//   BENCH_CONFLUX_NODE_OPTIONS="--import ./bench/count-queries.hook.mjs" npm run bench -- <name>
// Counts the SQL statements node-postgres sends, per database kind (control or tenant) and statement shape
// (literals replaced by ?), and writes them as JSON to /tmp/conflux-queries-<pid>.json when the process exits.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.cwd(), 'package.json'));
const counts = new Map();
// MikroORM has its own copy of pg next to the one the event store and the control database use.
for (const id of ['pg', '@mikro-orm/postgresql/node_modules/pg']) {
  let pg;
  try {
    pg = require(id);
  } catch {
    continue;
  }
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (config, ...rest) {
    const text = typeof config === 'string' ? config : (config?.text ?? '');
    const database = this.connectionParameters?.database ?? '?';
    const shape = text
      .replace(/'[^']*'?/g, '?')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 100);
    const key = `${database.startsWith('conflux_tenant_') ? 'tenant' : 'control'} | ${shape}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return query.call(this, config, ...rest);
  };
}
process.on('exit', () => {
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  writeFileSync(
    `/tmp/conflux-queries-${process.pid}.json`,
    JSON.stringify(Object.fromEntries(sorted), null, 1),
  );
});
