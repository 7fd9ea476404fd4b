// The answer page: join a room with a token, see who is there, and answer secret and OAuth requests.
// Plain modules, no framework: one WebSocket, msgpack frames (PROTOCOL.md §2), and DOM built with textContent only.

const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  socket: undefined,
  nextId: 1,
  pending: new Map(),
  participants: new Map(),
  requests: new Map(),
  identity: undefined,
  room: undefined,
  token: undefined,
  leaving: false,
  retries: 0,
};

let packr;
let unpackr;

function codec() {
  // msgpackr is loaded by a classic script (deferred), before this module runs.
  const { Packr, Unpackr } = globalThis.msgpackr;
  packr ??= new Packr({ useRecords: false, structuredClone: false, moreTypes: false });
  unpackr ??= new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false, moreTypes: false });
}

function setStatus(text) {
  $("#status").textContent = text;
}

// ---- token and room ----

function claimsOf(token) {
  try {
    const payload = token.split(".")[1];
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

function readFragment() {
  if (location.hash.length < 2) return;
  const params = new URLSearchParams(location.hash.slice(1));
  // The fragment never reaches the server; clear it from the address bar and history too.
  history.replaceState(null, "", location.pathname + location.search);
  const token = params.get("token");
  if (token) $("#token").value = token;
  const room = params.get("room");
  if (room) $("#room").value = room;
  if (token) connect();
}

// ---- connection ----

function connect() {
  codec();
  const token = $("#token").value.trim();
  const claims = claimsOf(token);
  if (!claims) {
    setStatus("That does not look like a token. Mint one with: roombus token --identity you --room ROOM --api secrets");
    return;
  }
  const room = claims.room === "*" ? $("#room").value.trim() : claims.room;
  if (!room) {
    setStatus("This token is for any room: type the room to join.");
    $("#room").focus();
    return;
  }
  state.token = token;
  state.room = room;
  state.leaving = false;
  open();
}

function open() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/rooms/${encodeURIComponent(state.room)}`;
  setStatus(`Connecting to ${state.room}…`);
  const socket = new WebSocket(url, ["roombus.v1", `roombus.token.${state.token}`]);
  socket.binaryType = "arraybuffer";
  state.socket = socket;
  socket.addEventListener("message", (message) => onFrame(message.data));
  socket.addEventListener("close", (event) => onClose(socket, event));
}

function onClose(socket, event) {
  if (state.socket !== socket) return;
  for (const { reject } of state.pending.values()) reject(new Error("connection closed"));
  state.pending.clear();
  if (state.leaving) return;
  const reasons = {
    4401: "Your token expired or was revoked. Paste a new one to rejoin.",
    4403: "Your access to this room was withdrawn.",
    1008: "The server refused this token.",
  };
  const fatal = reasons[event.code];
  if (fatal || (event.code === 1006 && state.retries === 0 && !state.identity)) {
    setStatus(fatal ?? "Could not join: check the token (it may be expired, or for another room).");
    showConnectForm(true);
    return;
  }
  const delay = Math.min(30_000, 500 * 2 ** state.retries++);
  setStatus(`Disconnected (code ${event.code}). Reconnecting in ${Math.round(delay / 1000)} s…`);
  setTimeout(() => {
    if (!state.leaving && state.socket === socket) open();
  }, delay);
}

function send(op, args) {
  const id = state.nextId++ % 0xffffffff;
  return new Promise((resolve, reject) => {
    state.pending.set(id, { resolve, reject });
    state.socket.send(packr.pack({ t: "req", id, op, args }));
  });
}

function onFrame(data) {
  let frame;
  try {
    frame = unpackr.unpack(new Uint8Array(data));
  } catch {
    return;
  }
  if (frame.t === "res") {
    const pending = state.pending.get(frame.id);
    if (!pending) return;
    state.pending.delete(frame.id);
    if (frame.ok) pending.resolve(frame.result);
    else pending.reject(Object.assign(new Error(frame.error.message), { code: frame.error.code }));
    return;
  }
  if (frame.t === "evt") onEvent(frame.ev, frame.data);
}

function onEvent(ev, data) {
  switch (ev) {
    case "room.ready":
      state.retries = 0;
      state.identity = data.identity;
      state.participants = new Map(data.participants.map((p) => [p.id, p]));
      setStatus(`Connected as ${data.identity} in ${data.room}.`);
      showConnectForm(false);
      renderParticipants();
      void refreshCredentials();
      break;
    case "participant.joined":
      state.participants.set(data.participant.id, data.participant);
      renderParticipants();
      break;
    case "participant.left":
      state.participants.delete(data.participant_id);
      renderParticipants();
      break;
    case "participant.attributes": {
      const participant = state.participants.get(data.participant_id);
      if (participant) participant.attributes = data.attributes;
      break;
    }
    case "secrets.request_secret":
      addSecretRequest(data);
      break;
    case "secrets.request_oauth_token":
      addOAuthRequest(data);
      break;
    case "secrets.request_cancelled":
      closeRequest(data.request_id, cancelledText(data.reason, state.requests.get(data.request_id)?.kind));
      if (data.reason === "answered_elsewhere") void refreshCredentials();
      break;
    default:
      break;
  }
}

function cancelledText(reason, kind) {
  if (kind === "oauth" && reason === "answered_elsewhere") return "Authorization complete.";
  switch (reason) {
    case "timeout":
      return "A request expired before it was answered.";
    case "requester_left":
      return "A request was withdrawn: the participant who asked left.";
    case "answered_elsewhere":
      return "A request was answered from another window.";
    default:
      return "A request was cancelled.";
  }
}

// ---- rendering ----

function showConnectForm(show) {
  $("#connect").hidden = !show;
  for (const id of ["#requests", "#people", "#credentials"]) $(id).hidden = show;
}

function renderParticipants() {
  const list = $("#participant-list");
  list.replaceChildren(
    ...[...state.participants.values()].map((p) => {
      const item = document.createElement("li");
      const who = document.createElement("span");
      who.textContent = p.identity + (p.identity === state.identity ? " (you)" : "");
      const role = document.createElement("span");
      role.className = "quiet";
      role.textContent = p.role;
      item.append(who, role);
      return item;
    }),
  );
}

function fromText(data) {
  const asker = state.participants.get(data.from_participant_id);
  return asker ? asker.identity : data.from_identity;
}

function timeLeft(expiresAt) {
  const seconds = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
}

function addCard(data, template) {
  if (state.requests.has(data.request_id)) return undefined;
  const card = $(template).content.firstElementChild.cloneNode(true);
  card.dataset.requestId = data.request_id;
  const tick = () => {
    $(".request-time", card).textContent = timeLeft(data.expires_at);
    if (Date.now() >= data.expires_at) closeRequest(data.request_id, "A request expired before it was answered.");
  };
  tick();
  const timer = setInterval(tick, 1000);
  state.requests.set(data.request_id, { card, timer, kind: card.dataset.kind });
  $("#request-list").prepend(card);
  $("#no-requests").hidden = true;
  return card;
}

function addSecretRequest(data) {
  const card = addCard(data, "#secret-request-template");
  if (!card) return;
  $(".request-title", card).textContent = `${fromText(data)} asks you for a secret`;
  $(".request-url", card).textContent = data.url;
  $(".request-type", card).textContent = data.type;
  $(".request-prompt", card).textContent = data.prompt ?? "";
  const input = $(".value-input", card);
  input.id = `value-${data.request_id}`;
  $(".value-label", card).htmlFor = input.id;
  const error = $(".request-error", card);

  $(".provide-form", card).addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = new TextEncoder().encode(input.value);
    input.value = "";
    busy(card, true);
    try {
      await send("secrets.provide_secret", { request_id: data.request_id, data: value });
      closeRequest(data.request_id, `Sent to ${fromText(data)}.`);
    } catch (e) {
      error.textContent = `Could not send it: ${e.message}`;
      busy(card, false);
    }
  });
  $(".reject", card).addEventListener("click", () => decline(card, data, "secrets.reject_secret", { reason: "declined" }));
  input.focus();
}

function addOAuthRequest(data) {
  const card = addCard(data, "#oauth-request-template");
  if (!card) return;
  $(".request-title", card).textContent = `${fromText(data)} asks you to authorize an app`;
  $(".request-client", card).textContent = data.client_id;
  let server = data.authorization_url;
  try {
    server = new URL(data.authorization_url).origin;
  } catch {
    // Shown as given.
  }
  $(".request-server", card).textContent = server;
  $(".request-scopes", card).textContent = data.scopes.length > 0 ? data.scopes.join(", ") : "(none)";
  const link = $(".authorize", card);
  link.href = data.authorization_url;
  link.addEventListener("click", () => {
    $(".request-error", card).textContent = "";
    setStatus("Finish the authorization in the new tab; this request closes when it is done.");
  });
  $(".reject", card).addEventListener("click", () =>
    decline(card, data, "secrets.reject_oauth_authorization", { error: "access_denied" }),
  );
}

async function decline(card, data, op, extra) {
  busy(card, true);
  try {
    await send(op, { request_id: data.request_id, ...extra });
    closeRequest(data.request_id, `Declined the request from ${fromText(data)}.`);
  } catch (e) {
    $(".request-error", card).textContent = `Could not decline: ${e.message}`;
    busy(card, false);
  }
}

function busy(card, on) {
  for (const control of card.querySelectorAll("button, input")) control.disabled = on;
}

function closeRequest(requestId, message) {
  const entry = state.requests.get(requestId);
  if (!entry) return;
  clearInterval(entry.timer);
  entry.card.remove();
  state.requests.delete(requestId);
  $("#no-requests").hidden = state.requests.size > 0;
  setStatus(message);
}

async function refreshCredentials() {
  let listed;
  try {
    listed = await send("secrets.list_secrets", {});
  } catch {
    $("#credentials").hidden = true;
    return;
  }
  const oauth = listed.secrets.filter((s) => s.kind === "oauth");
  $("#no-credentials").hidden = oauth.length > 0;
  $("#credential-list").replaceChildren(...oauth.map(credentialItem));
}

function credentialItem(credential) {
  const item = document.createElement("li");
  const text = document.createElement("span");
  let app = credential.id;
  try {
    app = `${credential.id} at ${new URL(credential.url).host}`;
  } catch {
    // Shown as given.
  }
  const parts = [app];
  if (credential.owner) parts.push(`you authorized it for ${credential.owner}`);
  if (credential.delegated_by) parts.push(`delegated to you by ${credential.delegated_by}`);
  else if (credential.delegated_to) parts.push(`delegated to ${credential.delegated_to}`);
  text.textContent = parts.join(" · ");
  item.append(text);
  // A credential delegated to you is the delegator's to revoke; the rest are yours or were approved by you.
  if (!credential.delegated_by) {
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "secondary";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke ${parts.join(", ")}`);
    revoke.addEventListener("click", async () => {
      revoke.disabled = true;
      const args = { authorization_endpoint: credential.url, client_id: credential.id };
      if (credential.owner) args.owner = credential.owner;
      if (credential.delegated_to) args.delegated_to = credential.delegated_to;
      try {
        const { deleted } = await send("secrets.revoke_oauth_token", args);
        setStatus(deleted ? `Revoked ${app}.` : `${app} was already gone.`);
      } catch (e) {
        setStatus(`Could not revoke ${app}: ${e.message}`);
      }
      await refreshCredentials();
    });
    item.append(revoke);
  }
  return item;
}

// ---- start ----

$("#connect-form").addEventListener("submit", (event) => {
  event.preventDefault();
  connect();
});
window.addEventListener("hashchange", readFragment);
readFragment();
