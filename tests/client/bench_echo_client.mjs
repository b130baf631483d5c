// The npm socket.io-client's CPU per echo round trip (see bench_client_echo.py).
//   node bench_echo_client.mjs URL N TRANSPORT
import { io } from "socket.io-client";

const [url, n, transport] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const socket = io(url, { transports: [transport], reconnection: false });
socket.on("connect", async () => {
  for (let i = 0; i < 200; i++) await socket.emitWithAck("echo", i); // warm-up
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await socket.emitWithAck("echo", "hello", i);
  const used = process.cpuUsage(cpu);
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ cpu: (used.user + used.system) / 1e6, wall }));
  socket.close();
  process.exit(0);
});
socket.on("connect_error", (err) => { console.error(err.message); process.exit(1); });
