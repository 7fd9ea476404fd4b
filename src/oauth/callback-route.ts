/**
 * `GET /oauth/callback`: where the authorization server sends the person's browser back. The answer is a small page
 * saying what happened and what to do next; it never shows the code, the state or a token.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CallbackOutcome, OAuthBroker } from "./oauth-broker.js";

export const CALLBACK_PATH = "/oauth/callback";

export function createOAuthCallbackRoute(broker: OAuthBroker): (request: IncomingMessage, response: ServerResponse) => Promise<boolean> {
  return async (request, response) => {
    const url = new URL(request.url ?? "/", "http://callback.invalid");
    if (request.method !== "GET" || url.pathname !== CALLBACK_PATH) return false;
    const outcome = await broker.callback(url.searchParams);
    const status = outcome.status === "failed" ? outcome.httpStatus : 200;
    response.writeHead(status, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      "content-security-policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
    });
    response.end(page(outcome));
    return true;
  };
}

function page(outcome: CallbackOutcome): string {
  const [title, text] =
    outcome.status === "authorized"
      ? ["Authorization complete", `${outcome.requester} now has the access you approved. You can close this tab.`]
      : outcome.status === "declined"
        ? ["Authorization declined", `${outcome.requester} was told you declined. You can close this tab.`]
        : ["Authorization not completed", outcome.message];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>roombus · ${escapeHtml(title)}</title><link rel="stylesheet" href="/style.css"></head>
<body><header><h1>roombus</h1></header><main><h2 id="result" data-status="${outcome.status}">${escapeHtml(title)}</h2>
<p>${escapeHtml(text)}</p></main></body></html>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
