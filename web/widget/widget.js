// centralita web chat widget. A site adds:
//   <script src="https://SERVER/widget.js" data-channel="wk_…" async></script>
// It draws a chat button in a shadow root (the site's styles and ours stay apart), keeps the
// visitor's token in localStorage (the conversation survives reloads), and hears replies over a
// WebSocket, polling when that is not possible. Text is always inserted as text, never as HTML.
(() => {
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(script.src).origin;
  const channel = script.dataset.channel;
  const storeKey = `centralita:${base}:${channel}`;
  const es = (navigator.language || 'es').toLowerCase().startsWith('es');
  const T = es
    ? { open: 'Chatea con nosotros', title: 'Chat', placeholder: 'Escribe tu mensaje…', send: 'Enviar', name: 'Tu nombre (opcional)', email: 'Tu correo (opcional)', start: 'Empezar', position: (n) => `Estás en el lugar ${n} de la fila. Te atenderemos enseguida.`, busy: 'Todos nuestros agentes están ocupados; te responderemos lo antes posible.', error: 'No se pudo enviar. Revisa tu conexión.', you: 'Tú', close: 'Cerrar', ended: 'La conversación terminó. Escríbenos si necesitas algo más.', tooLong: 'El mensaje es demasiado largo.', slow: 'Vas muy rápido; espera un momento.', intro: 'Puedes dejarnos tu nombre y correo, o escribir directamente abajo.', tooMany: 'Este chat está abierto en demasiadas pestañas (o hay demasiados abiertos desde tu red); cierra alguno y las respuestas llegarán aquí.' }
    : { open: 'Chat with us', title: 'Chat', placeholder: 'Write your message…', send: 'Send', name: 'Your name (optional)', email: 'Your e-mail (optional)', start: 'Start', position: (n) => `You are number ${n} in line. We will be with you shortly.`, busy: 'All our agents are busy; we’ll answer as soon as possible.', error: 'Could not send. Check your connection.', you: 'You', close: 'Close', ended: 'This chat has ended. Write to us if you need anything else.', tooLong: 'The message is too long.', slow: 'You are going fast; wait a moment.', intro: 'You may leave your name and e-mail, or just write below.', tooMany: 'This chat is open in too many tabs (or too many chats are open from your network); close one and replies will come here.' };

  const host = document.createElement('div');
  host.setAttribute('data-centralita-widget', '');
  const root = host.attachShadow({ mode: 'open' });
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props);
    node.append(...children);
    return node;
  };
  const style = el('style');
  style.textContent = `
    :host { all: initial; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 24px; padding: 12px 18px; background: #1f6feb; color: #fff; font: 600 15px system-ui, sans-serif; cursor: pointer; box-shadow: 0 4px 14px #0003; }
    .panel { position: fixed; right: 20px; bottom: 20px; z-index: 2147483001; width: min(360px, calc(100vw - 40px)); height: min(520px, calc(100vh - 40px)); display: flex; flex-direction: column; background: #fff; color: #1d2433; border-radius: 12px; box-shadow: 0 8px 30px #0004; font: 14px/1.4 system-ui, sans-serif; overflow: hidden; }
    .panel[hidden], .launcher[hidden], form[hidden], .status[hidden] { display: none; }
    header { display: flex; justify-content: space-between; align-items: center; padding: 10px 14px; background: #1d2433; color: #fff; font-weight: 600; }
    header button { background: none; border: 0; color: #fff; font-size: 18px; cursor: pointer; }
    .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; }
    .msg { max-width: 80%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap; word-break: break-word; }
    .msg.visitor { align-self: flex-end; background: #1f6feb; color: #fff; }
    .msg.agent, .msg.system { align-self: flex-start; background: #eef1f5; }
    .who { display: block; font-size: 11px; opacity: .7; }
    .status { padding: 6px 12px; font-size: 12px; color: #5b6476; background: #f6f7f9; }
    .notice { color: #8a1c1c; background: #fdecec; }
    form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #d8dce3; }
    form.intro { flex-direction: column; }
    input, textarea { font: inherit; border: 1px solid #d8dce3; border-radius: 6px; padding: 8px; }
    textarea { flex: 1; resize: none; height: 38px; }
    button.send { border: 0; border-radius: 6px; background: #1f6feb; color: #fff; padding: 0 14px; font: inherit; cursor: pointer; }
    button.start { padding: 8px 14px; }
    .hint { margin: 0; font-size: 12px; color: #5b6476; }
  `;
  const launcher = el('button', { className: 'launcher', type: 'button', textContent: T.open });
  const log = el('div', { className: 'log', role: 'log' });
  log.setAttribute('aria-live', 'polite');
  const status = el('div', { className: 'status', hidden: true });
  status.setAttribute('role', 'status');
  // Why live replies stopped: the server refused this tab's socket (too many open).
  const notice = el('div', { className: 'status notice', hidden: true });
  notice.setAttribute('role', 'alert');
  const closeButton = el('button', { type: 'button', textContent: '×', title: T.close });
  closeButton.setAttribute('aria-label', T.close);
  const nameInput = el('input', { placeholder: T.name, autocomplete: 'name' });
  const emailInput = el('input', { placeholder: T.email, type: 'email', autocomplete: 'email' });
  const intro = el('form', { className: 'intro' }, el('p', { className: 'hint', textContent: T.intro }), nameInput, emailInput, el('button', { className: 'send start', type: 'submit', textContent: T.start }));
  const text = el('textarea', { placeholder: T.placeholder, rows: 1, maxLength: 10000 });
  text.setAttribute('aria-label', T.placeholder);
  const composer = el('form', {}, text, el('button', { className: 'send', type: 'submit', textContent: T.send }));
  const panel = el('section', { className: 'panel', hidden: true }, el('header', {}, el('span', { textContent: T.title }), closeButton), log, notice, status, intro, composer);
  panel.setAttribute('aria-label', T.title);
  root.append(style, launcher, panel);

  // Some pages cannot use storage (sandboxed frames, strict privacy settings): keep it in memory.
  const storage = (() => {
    try {
      localStorage.getItem(storeKey);
      return localStorage;
    } catch {
      const memory = new Map();
      return { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v), removeItem: (k) => memory.delete(k) };
    }
  })();
  let token = storage.getItem(storeKey);
  let lastId = 0;
  let conversationId = null;
  let socket = null;
  let poller = null;
  const seen = new Set();

  const call = async (method, path, body) => {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${base}/widget/v1${path}`, { method, headers, body: body && JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(data?.error?.message || response.statusText), { code: data?.error?.code, status: response.status });
    return data;
  };

  // Message ids count within a conversation; a returning visitor's new conversation starts again.
  const show = (message) => {
    const key = `${message.conversation_id}:${message.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (message.conversation_id === conversationId) lastId = Math.max(lastId, message.id);
    const who = message.from === 'visitor' ? T.you : message.agent_name || '';
    log.append(el('div', { className: `msg ${message.from}` }, el('span', { className: 'who', textContent: who }), message.text));
    log.scrollTop = log.scrollHeight;
  };

  const follow = (conversation) => {
    if (conversation && conversation.id !== conversationId) {
      conversationId = conversation.id;
      lastId = 0;
    }
  };

  const showStatus = (conversation) => {
    follow(conversation);
    const waiting = conversation && conversation.status === 'queued' && conversation.position;
    const ended = conversation && conversation.status === 'finalized';
    status.hidden = !waiting && !ended;
    // Past the queue's limit the message is kept and the visitor waits: say so, not a number.
    if (waiting) status.textContent = conversation.overflow ? T.busy : T.position(conversation.position);
    if (ended) status.textContent = T.ended;
  };

  const refresh = async () => {
    if (!token) return;
    try {
      let data = await call('GET', `/conversation?after=${lastId}`);
      if (data.conversation && data.conversation.id !== conversationId) {
        follow(data.conversation);
        data = await call('GET', '/conversation?after=0');
      }
      data.messages.forEach(show);
      showStatus(data.conversation);
    } catch (err) {
      if (err.status === 401) forget();
    }
  };

  const forget = () => {
    token = null;
    storage.removeItem(storeKey);
    intro.hidden = false;
  };

  const listen = () => {
    if (!token || socket) return;
    socket = new WebSocket(`${base.replace(/^http/, 'ws')}/widget/v1/ws?token=${encodeURIComponent(token)}`);
    socket.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type === 'message') show(data.message);
      else if (data.type === 'status') showStatus(data.conversation);
      else if (data.type === 'resync') refresh();
    };
    socket.onopen = () => {
      notice.hidden = true;
      clearInterval(poller);
      poller = null;
      refresh();
    };
    socket.onclose = (event) => {
      socket = null;
      // 4008: too many sockets for this visitor or their address. Say so, keep polling slowly, and
      // try much later. Any other close (1001 idle_timeout after a sleep, a restart): poll, retry soon.
      const tooMany = event.code === 4008;
      if (tooMany) {
        notice.textContent = T.tooMany;
        notice.hidden = false;
      }
      if (!poller) poller = setInterval(refresh, tooMany ? 10_000 : 3000);
      setTimeout(listen, tooMany ? 60_000 : 5000);
    };
  };

  const start = async () => {
    if (token) return;
    const data = await call('POST', '/visitors', { channel, name: nameInput.value || undefined, email: emailInput.value || undefined });
    token = data.token;
    storage.setItem(storeKey, token);
    intro.hidden = true;
    listen();
  };

  intro.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await start();
      text.focus();
    } catch (err) {
      status.hidden = false;
      status.textContent = err.message;
    }
  });

  composer.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    try {
      await start();
      const data = await call('POST', '/messages', { text: value });
      text.value = '';
      const changed = data.conversation.id !== conversationId;
      showStatus(data.conversation);
      show(data.message);
      if (changed) refresh();
    } catch (err) {
      status.hidden = false;
      const known = { text_too_long: T.tooLong, rate_limited: T.slow };
      status.textContent = known[err.code] || T.error;
    }
  });

  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  const open = () => {
    panel.hidden = false;
    launcher.hidden = true;
    intro.hidden = Boolean(token);
    refresh();
    listen();
    (token ? text : nameInput).focus();
  };
  launcher.addEventListener('click', open);
  closeButton.addEventListener('click', () => {
    panel.hidden = true;
    launcher.hidden = false;
  });

  const mount = () => {
    document.body.append(host);
    if (token) open();
  };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
