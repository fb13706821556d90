import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The root README's "A short example", run as a user would run it: the code block, unchanged, in
 * a fresh directory whose node_modules/@conclave/* link to the built packages (resolved through
 * their package.json exports to dist/), compiled by TypeScript (which lowers `await using` for
 * Node 20) and run with node. Needs the builds (`pnpm test` builds first).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The first ```ts block after the "## A short example" heading. */
function exampleFrom(readme: string): string {
  const section = readme.indexOf('## A short example');
  if (section < 0) throw new Error('README.md has no "## A short example" section');
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(section));
  if (block?.[1] === undefined) throw new Error('the example section has no ```ts block');
  return block[1];
}

let dir: string;
let source: string;

beforeAll(async () => {
  source = exampleFrom(await readFile(join(root, 'README.md'), 'utf8'));
  dir = await mkdtemp(join(tmpdir(), 'conclave-readme-example-'));
  await mkdir(join(dir, 'node_modules', '@conclave'), { recursive: true });
  for (const pkg of ['core', 'client', 'server', 'recipes']) {
    await symlink(join(root, 'packages', pkg), join(dir, 'node_modules', '@conclave', pkg), 'dir');
  }
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  await writeFile(join(dir, 'example.ts'), source);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the README example', () => {
  it('is the 10-or-so line program it claims to be', () => {
    expect(source).toContain("from '@conclave/server'");
    expect(source).toContain('await using');
    expect(source.trim().split('\n').length).toBeLessThanOrEqual(20);
  });

  it('type-checks (strict) against the published declarations', () => {
    const program = ts.createProgram([join(dir, 'example.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts', 'lib.dom.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
      skipLibCheck: true,
    });
    const errors = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(errors).toEqual([]);
  });

  it('runs against a real server: prints both values, then exits on its own', async () => {
    const js = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    }).outputText;
    await writeFile(join(dir, 'example.mjs'), js);
    const run = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) => {
      // The timeout catches an example that never exits (a handle left open after close()).
      execFile(process.execPath, ['example.mjs'], { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ err, stdout, stderr }),
      );
    });
    expect(run.err, run.stderr).toBeNull();
    expect(run.stdout.split('\n').filter(Boolean)).toEqual(['now: hello', 'now: world']);
  }, 90_000);
});
