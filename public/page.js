// The page: upload, choose the task and its main options, follow the job's events live.
'use strict';
const $ = (id) => document.getElementById(id);
let current = null;
let source = null;

function showOptions() {
  const task = $('task').value;
  for (const d of document.querySelectorAll('.opts')) d.hidden = !d.dataset.task.split(' ').includes(task);
  $('style-row').hidden = task !== 'style';
}
$('task').addEventListener('change', showOptions);
showOptions();

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function headers() {
  const k = $('apikey').value.trim();
  return k ? { authorization: `Bearer ${k}` } : {};
}

function options(task) {
  const n = (id) => Number($(id).value);
  switch (task) {
    case 'classify': return { topK: n('topK') };
    case 'locate': return { topK: Math.max(n('topK'), n('components') + 1), components: n('components') };
    case 'dream': return { octaves: n('octaves'), steps: n('steps'), progressImages: $('progressImages').checked };
    case 'style': return { size: n('size'), iterations: n('iterations'), styleWeight: n('styleWeight'), progressImages: $('progressImages').checked };
  }
}

function showClasses(classes) {
  $('classes').replaceChildren(...classes.map((c) => {
    const li = document.createElement('li');
    li.textContent = c.label;
    const p = document.createElement('span');
    p.className = 'p';
    p.textContent = `${(100 * c.probability).toFixed(1)}%`;
    li.append(p);
    return li;
  }));
}

function reset() {
  $('classes').replaceChildren();
  $('report').replaceChildren();
  $('downloads').replaceChildren();
  $('bar').hidden = true;
  $('bar').value = 0;
}

async function fail(res) {
  let msg = `${res.status}`;
  try { msg = (await res.json()).error.message; } catch { /* not JSON */ }
  status(`Error: ${msg}`, true);
}

$('image').addEventListener('change', () => {
  const f = $('image').files[0];
  if (f) $('preview').src = URL.createObjectURL(f);
});

$('job').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  reset();
  const task = $('task').value;
  const body = new FormData();
  body.append('task', task);
  body.append('options', JSON.stringify(options(task)));
  body.append('image', $('image').files[0]);
  if (task === 'style') for (const f of $('style').files) body.append('style', f);
  $('run').disabled = true;
  try {
    if (task === 'classify') {
      status('Classifying…');
      const res = await fetch('/v1/classify', { method: 'POST', body, headers: headers() });
      if (!res.ok) return await fail(res);
      const r = await res.json();
      showClasses(r.classes);
      status(`classify: ${r.classes[0].label}`);
      return;
    }
    const res = await fetch('/v1/jobs', { method: 'POST', body, headers: headers() });
    if (!res.ok) return await fail(res);
    current = await res.json();
    follow(current);
  } finally {
    $('run').disabled = false;
  }
});

$('cancel').addEventListener('click', async () => {
  if (current) await fetch(`/v1/jobs/${current.id}`, { method: 'DELETE', headers: headers() });
});

function follow(job) {
  status(`${job.task}: queued`);
  $('cancel').disabled = false;
  $('bar').hidden = false;
  source?.close();
  source = new EventSource(job.links.events);
  source.addEventListener('state', (e) => status(`${job.task}: ${JSON.parse(e.data).state}`));
  source.addEventListener('progress', (e) => {
    const p = JSON.parse(e.data);
    if (p.fraction !== undefined) $('bar').value = p.fraction;
    else if (p.total) $('bar').value = p.done / p.total;
    const what = p.stage ?? (p.iteration !== undefined ? `scale ${p.scale + 1}/${p.scales}, iteration ${p.iteration}/${p.iterations}` : `octave ${p.octave}/${p.octaves}, step ${p.step}/${p.steps}`);
    status(`${job.task}: running (${what})`);
  });
  source.addEventListener('image', (e) => { $('preview').src = JSON.parse(e.data).dataUrl; });
  source.addEventListener('done', async (e) => {
    source.close();
    $('cancel').disabled = true;
    const d = JSON.parse(e.data);
    if (d.state !== 'succeeded') return status(`${job.task}: ${d.state}${d.error ? ` (${d.error.message})` : ''}`, d.state === 'failed');
    $('bar').value = 1;
    const r = await (await fetch(job.links.result, { headers: headers() })).json();
    const links = Object.entries(r.files).map(([name, href]) => {
      const a = document.createElement('a');
      a.href = href;
      a.textContent = name;
      a.download = name;
      return a;
    });
    $('downloads').replaceChildren('Download: ', ...links.flatMap((a, i) => (i ? [' · ', a] : [a])));
    const img = r.files['dream.png'] ?? r.files['style.png'] ?? r.files['overlay.png'];
    if (img) $('preview').src = img;
    if (r.files['report.html']) {
      const f = document.createElement('iframe');
      f.src = r.files['report.html'];
      f.title = 'locate report';
      $('report').replaceChildren(f);
    }
    status(`${job.task}: succeeded`);
  });
}
