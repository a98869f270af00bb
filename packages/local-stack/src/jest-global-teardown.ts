export default async function teardown(): Promise<void> {
  const servers = globalThis.__ordersIntTestServers;
  globalThis.__ordersIntTestServers = undefined;
  const results = await Promise.allSettled([servers?.emulator?.stop(), servers?.postgres?.stop()]);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}
