/** The systems the peer benchmarks compare. */
export type SystemName = "roombus" | "socket.io";
export const SYSTEMS: readonly SystemName[] = ["roombus", "socket.io"];
