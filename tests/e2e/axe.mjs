// axe-core in the page under test: the serious and critical accessibility violations of what the
// page shows now. axe's own source is read from node_modules and injected; nothing is fetched.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let source = null;

export async function violations(page, { include } = {}) {
  source ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated through the debugging protocol, so the page's Content Security Policy (which forbids
  // inline scripts) stays as it is for the page itself.
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(source);
  const found = await page.evaluate(async (include) => {
    const result = await window.axe.run(include ?? document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ')}`),
    }));
  }, include ?? null);
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

// A readable failure: one line per violation with the first few elements it found.
export function describe(found) {
  return found.map((v) => `${v.impact} ${v.id} (${v.help})\n  ${v.nodes.join('\n  ')}`).join('\n');
}
