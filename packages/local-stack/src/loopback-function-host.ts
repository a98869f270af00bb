import { join } from 'node:path';
import { format } from 'node:util';

/**
 * functions-framework's own entry (`main.js`), listening on 127.0.0.1 only: the framework's
 * main listens on every interface and takes no host, and a development stack must not be
 * reachable from the network. Everything else is the framework's own: its option parsing,
 * loader, server and crash handling, from the framework the function's workspace declares.
 *
 * Run as `node loopback-function-host.js <framework build dir> --target=... --port=...`.
 */
async function main(): Promise<void> {
  jsonConsole();
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

/**
 * Every line the function writes is JSON, the framework's own included: what goes through
 * `console` (functions-framework's load failures and crash lines, a library's warning) is
 * written as one entry with a Cloud Logging severity, as the functions' logger writes.
 */
function jsonConsole(): void {
  const to =
    (stream: NodeJS.WriteStream, severity: string) =>
    (...args: unknown[]) => {
      const entry = { severity, message: format(...args), time: new Date().toISOString() };
      stream.write(`${JSON.stringify(entry)}\n`);
    };
  console.debug = to(process.stdout, 'DEBUG');
  console.log = to(process.stdout, 'INFO');
  console.info = to(process.stdout, 'INFO');
  console.warn = to(process.stderr, 'WARNING');
  console.error = to(process.stderr, 'ERROR');
}
