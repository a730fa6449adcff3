#!/usr/bin/env node
/**
 * Prints the application's Nest module graph for each store driver: which module imports which (as each module
 * declares it, dynamic modules included) and which modules are global. Nest builds it in preview mode: no
 * provider is instantiated, nothing connects anywhere. Reads the build in dist/: run it as `npm run graph`.
 */
require('reflect-metadata');
const { join } = require('node:path');
const dist = join(__dirname, '..', 'dist');
const { NestFactory } = require('@nestjs/core');
const { AppModule } = require(join(dist, 'app.module.js'));
const { ApiKeyRegistry } = require(join(dist, 'auth', 'api-keys.js'));
const { validateEnvironment } = require(join(dist, 'config', 'env.validation.js'));

/** The module class an import names: a class, a dynamic module, or a promise of one. */
async function moduleName(entry) {
  const resolved = await entry;
  return (resolved?.module ?? resolved)?.name ?? String(resolved);
}

async function graphOf(driver) {
  const settings = validateEnvironment({ STORE_DRIVER: driver, LOG_LEVEL: 'silent' });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot({ settings, apiKeys: new ApiKeyRegistry([]) }), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  const container = app.container;
  const lines = [];
  const global = [];
  for (const moduleRef of container.getModules().values()) {
    const name = moduleRef.metatype.name;
    if (name === 'InternalCoreModule') continue;
    if (moduleRef.isGlobal) global.push(name);
    const declared = [
      ...(Reflect.getMetadata('imports', moduleRef.metatype) ?? []),
      ...(container.getDynamicMetadataByToken(moduleRef.token, 'imports') ?? []),
    ];
    const imports = [...new Set(await Promise.all(declared.map(moduleName)))].sort();
    if (imports.length > 0) lines.push(`${name} -> ${imports.join(', ')}`);
  }
  await app.close();
  return [`global: ${global.sort().join(', ')}`, ...lines.sort()];
}

(async () => {
  for (const driver of ['memory', 'redis']) {
    console.log(`# STORE_DRIVER=${driver}`);
    for (const line of await graphOf(driver)) console.log(line);
    console.log('');
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
