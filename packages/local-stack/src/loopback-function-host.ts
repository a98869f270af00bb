import { join } from 'node:path';

/**
 * functions-framework's own entry (`main.js`), listening on 127.0.0.1 only: the framework's
 * main listens on every interface and takes no host, and a development stack must not be
 * reachable from the network. Everything else is the framework's own: its option parsing,
 * loader, server and crash handling, from the framework the function's workspace declares.
 *
 * Run as `node loopback-function-host.js <framework build dir> --target=... --port=...`.
 */
async function main(): Promise<void> {
  const [node = 'node', script = '', frameworkDir = '', ...args] = process.argv;
  const framework = (module: string) => require(join(frameworkDir, module));
  const { parseOptions } = framework('options.js');
  const { getUserFunction } = framework('loader.js');
  const { getServer } = framework('server.js');
  const { ErrorHandler } = framework('invoker.js');
  const { loggingHandlerAddExecutionContext } = framework('logger.js');

  const options = parseOptions([node, script, ...args]);
  if (options.enableExecutionId) loggingHandlerAddExecutionContext();
  const loaded = await getUserFunction(
    options.sourceLocation,
    options.target,
    options.signatureType,
  );
  if (!loaded) {
    console.error('Could not load the function, shutting down.');
    process.exit(1);
  }
  options.signatureType = loaded.signatureType;
  const server = getServer(loaded.userFunction, options);
  const errorHandler = new ErrorHandler(server);
  server.listen(Number(options.port), '127.0.0.1', () => errorHandler.register()).setTimeout(0);
}

void main();
