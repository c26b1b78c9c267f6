/*
 * The network contract through HCN: @berth/runtime's network conformance suite over
 * HcsSimulator's HCN (networks, endpoints with the addresses the driver picks, port
 * policies, namespaces), name resolution through the driver's table.
 */
import { runNetworkConformanceSuite } from '@berth/runtime/testsuite';
import { HcsSimulator } from '@berth/hcs/simulator';
import { HcnNetworkDriver } from '../src/index.js';

let subnets = 0;
runNetworkConformanceSuite('windows/hcn over HcsSimulator', () => new HcnNetworkDriver(new HcsSimulator()), {
  subnet: async () => `10.78.${subnets++}.0/24`,
  resolve: async (driver, containerId, name) => (driver as HcnNetworkDriver).lookup(containerId, name),
});
