import type { Server as NetServer, Socket } from "node:net";

/** The client's address with IPv4-mapped IPv6 folded to IPv4, so one host is one key whichever way it connects. */
export function clientAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? "unknown";
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

export interface ConnectionCap {
  /** Connections `address` holds open now. */
  open(address: string): number;
}

/**
 * At most `max` open connections per client address on a listener. Counted on the raw TCP
 * `connection` event, so on a TLS listener a connection counts from its first byte, before the
 * handshake: a client cannot hold sockets open by handshaking slowly. A connection over the cap is
 * destroyed at once, without an answer; the other addresses are not affected.
 */
export function capConnectionsPerAddress(server: NetServer, max: number, onRefused?: (address: string) => void): ConnectionCap {
  const open = new Map<string, number>();
  // One close listener for every socket, reading the socket's key off it: no closure made per connection.
  function onClose(this: CountedSocket): void {
    const address = this[ADDRESS] ?? "";
    const left = (open.get(address) ?? 1) - 1;
    if (left > 0) open.set(address, left);
    else open.delete(address); // the map holds only addresses with open connections
  }
  server.on("connection", (socket: CountedSocket) => {
    const address = clientAddress(socket);
    const n = open.get(address) ?? 0;
    if (n >= max) {
      socket.destroy();
      onRefused?.(address);
      return;
    }
    open.set(address, n + 1);
    socket[ADDRESS] = address;
    socket.on("close", onClose); // "close" is emitted once; on() skips the once() wrapper
  });
  return { open: (address) => open.get(address) ?? 0 };
}

const ADDRESS = Symbol("cappedAddress");
type CountedSocket = Socket & { [ADDRESS]?: string };
