// Builds the chat demo into dist/: index.html, assets/app.js and assets/app.css (esbuild).
//   node build.mjs            one production build (minified, with source maps)
//   node build.mjs --watch    rebuild on every change while you edit src/
import { copyFile, mkdir, rm } from "node:fs/promises";
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: { app: "src/main.js" },
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: !watch,
  sourcemap: true,
  outdir: "dist/assets",
  logLevel: "info",
};

await rm("dist", { recursive: true, force: true });
await mkdir("dist/assets", { recursive: true });
await copyFile("index.html", "dist/index.html");
await copyFile("src/favicon.svg", "dist/favicon.svg");
if (watch) {
  await (await esbuild.context(options)).watch();
} else {
  await esbuild.build(options);
}
