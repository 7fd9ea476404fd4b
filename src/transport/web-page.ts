/**
 * Serves the answer page (`web/`) at `/`: a fixed list of files, never a path taken from the request. The page
 * takes its token from a pasted field or the URL fragment, which browsers never send to the server.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { packageRoot } from "../package-root.js";

interface Asset {
  file: string;
  type: string;
}

function assets(): Map<string, Asset> {
  const web = join(packageRoot(), "web");
  const msgpackrDist = dirname(createRequire(import.meta.url).resolve("msgpackr"));
  return new Map([
    ["/", { file: join(web, "index.html"), type: "text/html; charset=utf-8" }],
    ["/index.html", { file: join(web, "index.html"), type: "text/html; charset=utf-8" }],
    ["/app.js", { file: join(web, "app.js"), type: "text/javascript; charset=utf-8" }],
    ["/style.css", { file: join(web, "style.css"), type: "text/css; charset=utf-8" }],
    ["/vendor/msgpackr.js", { file: join(msgpackrDist, "index-no-eval.min.js"), type: "text/javascript; charset=utf-8" }],
  ]);
}

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "cache-control": "no-cache",
};

export function createWebPageRoutes(): (request: IncomingMessage, response: ServerResponse) => boolean {
  const table = assets();
  const contents = new Map<string, Buffer>();
  return (request, response) => {
    if (request.method !== "GET" && request.method !== "HEAD") return false;
    const path = (request.url ?? "/").split("?", 1)[0]!;
    const asset = table.get(path);
    if (asset === undefined) return false;
    let body = contents.get(asset.file);
    if (body === undefined) {
      body = readFileSync(asset.file);
      contents.set(asset.file, body);
    }
    response.writeHead(200, { "content-type": asset.type, "content-length": body.length, ...SECURITY_HEADERS });
    response.end(request.method === "HEAD" ? undefined : body);
    return true;
  };
}
