// Shell of the staff UI: shows whether the server answers. The screens arrive with the accounts work.
const status = document.getElementById('status');

async function check() {
  try {
    const response = await fetch('/healthz', { headers: { Accept: 'application/json' } });
    const body = await response.json();
    if (!response.ok) throw new Error(body?.error?.message ?? response.statusText);
    status.textContent = `Server running, version ${body.version}.`;
    status.className = 'ok';
  } catch (err) {
    status.textContent = `The server does not answer: ${err.message}`;
    status.className = 'bad';
  }
}

check();
