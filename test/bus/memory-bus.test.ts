import { MemoryHub } from "../../src/bus/memory-bus.js";
import { busContract } from "../contract/bus.contract.js";

busContract("MemoryBus", () => {
  const hub = new MemoryHub();
  const buses: ReturnType<MemoryHub["bus"]>[] = [];
  return {
    async makeNodes(count) {
      for (let i = 0; i < count; i++) buses.push(hub.bus<Record<string, unknown>>(`node-${i}`));
      return buses as never;
    },
    async dispose() {
      await Promise.all(buses.map((bus) => bus.close()));
    },
  };
});
