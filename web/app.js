// refex web pages over the hub's JSON API: inbox, sent, a referral, a new referral, clients,
// audit trails and the outcomes report.
// Every value from the hub is put in the page as text (textContent / text nodes), never as HTML.
'use strict';

const STATES = ['STATE_SENT', 'STATE_RECEIVED', 'STATE_ACCEPTED', 'STATE_DECLINED',
  'STATE_COMPLETED', 'STATE_WITHDRAWN'];
const PAGE_SIZE = 25;

// Append children to parent: nodes, or text (never HTML); null, undefined and false are none.
function put(parent, ...children) {
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) {
      parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  return parent;
}

// Make an element: attrs are properties (not HTML), children as put takes them.
function el(tag, attrs, ...children) {
  return put(Object.assign(document.createElement(tag), attrs || {}), ...children);
}

let nextId = 1;

// A fresh element id: ids never carry values from the hub.
function newId(prefix) {
  return prefix + '-' + nextId++;
}

// Say something in the status line (role=status) or, for an error, the alert line (role=alert).
function say(text, isError) {
  document.getElementById('status').textContent = isError ? '' : text;
  document.getElementById('alert').textContent = isError ? text : '';
}

// Call an operation: a same-origin POST of JSON, which the hub's CSRF rules let through.
// A refusal throws an Error carrying the hub's field (by its JSON path), when it names one.
async function call(op, body, headers) {
  const r = await fetch('/api/v1/' + op, {
    method: 'POST',
    headers: Object.assign({'Content-Type': 'application/json'}, headers || {}),
    body: JSON.stringify(body || {}),
    credentials: 'same-origin',
  });
  const json = await r.json().catch(() => ({message: 'the hub answered ' + r.status}));
  if (!r.ok) {
    const e = new Error(json.message || 'refused');
    e.field = json.field || '';
    throw e;
  }
  return json;
}

// The description of a kept form version (the newest when version is absent).
async function formDescription(name, version) {
  const r = await fetch('/api/v1/forms/' + encodeURIComponent(name) +
    (version ? '?version=' + encodeURIComponent(version) : ''), {credentials: 'same-origin'});
  const json = await r.json().catch(() => ({message: 'the hub answered ' + r.status}));
  if (!r.ok) {
    throw new Error(json.message || 'no such form');
  }
  return json;
}

function when(secs) {
  return secs ? new Date(Number(secs) * 1000).toLocaleString() : '';
}

function stateName(s) {
  return (s || '').replace(/^STATE_/, '').toLowerCase();
}

// "currentSituation" -> "Current situation"
function label(name) {
  const words = name.replace(/([A-Z])/g, ' $1').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// "ROUGH_SLEEPING" -> "Rough sleeping"
function choiceLabel(name) {
  const words = String(name).toLowerCase().replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// How long the prefix is that every value name of an enum shares, up to its last '_' (the rule
// of proto/pbenum.c): CONSENT_ of CONSENT_METHOD_UNSPECIFIED, CONSENT_VERBAL, ...
function sharedPrefixLength(choices) {
  const names = (choices || []).map((c) => c.name);
  let n = names.length ? names[0].length : 0;
  for (const name of names) {
    let k = 0;
    while (k < n && name[k] === names[0][k]) {
      k++;
    }
    n = k;
  }
  return n ? names[0].lastIndexOf('_', n - 1) + 1 : 0;
}

// A choice of enum field f as people read it: "CONSENT_VERBAL" -> "Verbal".
function enumLabel(f, name) {
  return choiceLabel(String(name).slice(sharedPrefixLength(f.choices)));
}

// Today as YYYY-MM-DD, in the browser's time zone.
function today() {
  const d = new Date();
  return [d.getFullYear(), String(d.getMonth() + 1).padStart(2, '0'),
    String(d.getDate()).padStart(2, '0')].join('-');
}

// Start a new draw of the page: a fresh box in <main>, where the draw puts what it shows. A
// newer draw replaces the box, so an older draw still waiting for the hub (overlapping live
// redraws, a quick second click) puts its late result in a box no longer on the page.
function main() {
  const box = el('div', {className: 'page'});
  document.getElementById('main').replaceChildren(box);
  return box;
}

// The page's heading: names the page for people, screen readers and the window title.
function heading(text) {
  document.title = text + ' – refex';
  return el('h1', {tabIndex: -1}, text);
}

// A table inside its own scrolling region, so that a narrow screen never scrolls sideways.
function tableIn(name, head, rows) {
  const t = el('table', {},
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, rows));
  const wrap = el('div', {className: 'table-wrap', tabIndex: 0}, t);
  wrap.setAttribute('role', 'region');
  wrap.setAttribute('aria-label', name);
  return wrap;
}

function button(text, onClick, attrs) {
  const b = el('button', Object.assign({type: 'button'}, attrs || {}), text);
  b.addEventListener('click', onClick);
  return b;
}

// A labelled control: its label, then it.
function labelled(text, control) {
  if (!control.id) {
    control.id = newId('c');
  }
  return [el('label', {htmlFor: control.id}, text), control];
}

// Options of a select from [value, text] pairs.
function options(pairs) {
  return pairs.map(([value, text]) => el('option', {value}, text));
}

function select(pairs, attrs) {
  return el('select', attrs || {}, options(pairs));
}

function dl(pairs) {
  const d = el('dl');
  for (const [k, v] of pairs) {
    if (v !== undefined && v !== null && v !== '') {
      d.append(el('dt', {}, k), el('dd', {}, v instanceof Node ? v : typeof v === 'object' ?
        JSON.stringify(v) : v));
    }
  }
  return d;
}

// Run fn (async) with b disabled, so a second click does nothing until the first is answered.
async function busy(b, fn) {
  if (b.disabled) {
    return;
  }
  b.disabled = true;
  try {
    await fn();
  } finally {
    b.disabled = false;
  }
}

// ---- Forms: rendered from a description (GET /api/v1/forms/NAME, or one written here) ----
//
// A widget is {node, read(), check(path, reg)}: read gives the answer as the JSON API takes it
// (undefined: no answer); check shows the rules' messages next to the controls, records each
// control under its JSON path in reg (the paths the hub names in its refusals) and says
// whether all is well.

const INTEGER_TYPES = ['int32', 'sint32', 'sfixed32', 'uint32', 'fixed32', 'int64', 'sint64',
  'sfixed64', 'uint64', 'fixed64'];

// The message shown next to a control, and how the control points at it.
function fieldEntry(control, help) {
  const err = el('p', {id: newId('err'), className: 'error field-error'});
  const ids = [err.id];
  let helpNode = null;
  if (help) {
    helpNode = el('p', {id: newId('help'), className: 'help'}, help);
    ids.unshift(helpNode.id);
  }
  control.setAttribute('aria-describedby', ids.join(' '));
  return {control, err, helpNode};
}

// Show text (empty: none) as entry's error.
function showFieldError(entry, text) {
  entry.err.textContent = text;
  entry.control.setAttribute('aria-invalid', text ? 'true' : 'false');
}

function requiredMark(f) {
  return f.required ? el('span', {className: 'required'}, ' (required)') : null;
}

// The problem with one answer v (not undefined) under field f's rules, or ''.
function ruleProblem(f, v) {
  const r = f.rules || {};
  if (r.text) {
    if (r.text.nonBlank && String(v).trim() === '') {
      return 'Must not be blank.';
    }
    if (r.text.maxLength && String(v).length > Number(r.text.maxLength)) {
      return 'At most ' + r.text.maxLength + ' characters.';
    }
  }
  if (r.date) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) {
      return 'Must be a date (YYYY-MM-DD).';
    }
    if (r.date.notPast && v < today()) {
      return 'Must be today or later.';
    }
    if (r.date.notFuture && v > today()) {
      return 'Must be today or earlier.';
    }
  }
  if (INTEGER_TYPES.includes(f.type) || r.number) {
    const n = Number(v);
    if (!Number.isFinite(n) || (INTEGER_TYPES.includes(f.type) && !Number.isInteger(n))) {
      return INTEGER_TYPES.includes(f.type) ? 'Must be a whole number.' : 'Must be a number.';
    }
    const min = r.number && r.number.min !== undefined ? Number(r.number.min) :
      f.type.startsWith('u') || f.type.startsWith('fixed') ? 0 : undefined;
    const max = r.number && r.number.max !== undefined ? Number(r.number.max) : undefined;
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
      return 'Must be ' + (max === undefined ? 'at least ' + min : min === undefined ?
        'at most ' + max : 'from ' + min + ' to ' + max) + '.';
    }
  }
  return '';
}

// The choices an enum field offers: without its zero when the rules say zero is no answer.
function enumChoices(f) {
  const noZero = f.rules && f.rules.enum && f.rules.enum.zeroIsNoAnswer;
  return (f.choices || []).filter((c) => !(noZero && c.number === 0));
}

// The control for one answer of field f (not a message): a select, a date, number or text input.
function scalarControl(f) {
  const r = f.rules || {};
  if (f.type === 'enum' || f.type === 'bool') {
    const opts = f.type === 'bool' ? [['true', 'Yes'], ['false', 'No']] :
      enumChoices(f).map((c) => [c.name, enumLabel(f, c.name)]);
    const noZero = f.type === 'enum' && r.enum && r.enum.zeroIsNoAnswer;
    if (!f.required || noZero || f.type === 'bool') {
      opts.unshift(['', 'No answer']);
    }
    return select(opts);
  }
  if (r.date) {
    return el('input', {type: 'date'});
  }
  if (INTEGER_TYPES.includes(f.type) || f.type === 'float' || f.type === 'double') {
    const i = el('input', {type: 'number', step: INTEGER_TYPES.includes(f.type) ? '1' : 'any'});
    i.inputMode = INTEGER_TYPES.includes(f.type) ? 'numeric' : 'decimal';
    if (r.number && r.number.min !== undefined) {
      i.min = String(r.number.min);
    } else if (f.type.startsWith('u') || f.type.startsWith('fixed')) {
      i.min = '0';
    }
    if (r.number && r.number.max !== undefined) {
      i.max = String(r.number.max);
    }
    return i;
  }
  const max = r.text && r.text.maxLength ? Number(r.text.maxLength) : 0;
  const c = max && max <= 200 ? el('input', {type: 'text'}) : el('textarea', {rows: 3});
  if (f.inputType) {
    c.type = f.inputType;
  }
  if (f.autocomplete) {
    c.autocomplete = f.autocomplete;
  }
  return c;
}

// The JSON answer a scalar control holds for field f, or undefined.
function scalarValue(f, c) {
  if (c.value === '') {
    return undefined;
  }
  if (f.type === 'bool') {
    return c.value === 'true';
  }
  if (INTEGER_TYPES.includes(f.type) || f.type === 'float' || f.type === 'double') {
    return c.value.trim() === '' || !Number.isFinite(Number(c.value)) ? c.value : Number(c.value);
  }
  return c.value;
}

// One answer of field f: a labelled control with its help and error.
function scalarWidget(f, text) {
  const c = scalarControl(f);
  c.id = newId('f');
  if (f.required) {
    c.required = true;
    c.setAttribute('aria-required', 'true');
  }
  if (f.rules && f.rules.text && f.rules.text.maxLength) {
    c.maxLength = Number(f.rules.text.maxLength);
  }
  const entry = fieldEntry(c, f.help);
  const node = el('div', {className: 'field'},
    el('label', {htmlFor: c.id}, text || f.label, requiredMark(f)), entry.helpNode, c, entry.err);
  return {
    node,
    control: c,
    read: () => scalarValue(f, c),
    check(path, reg, partial) {
      reg.set(path, entry);
      const v = scalarValue(f, c);
      const missing = f.required && !partial ? 'Required: give an answer.' : '';
      const problem = v === undefined ? missing : ruleProblem(f, v);
      showFieldError(entry, problem);
      return !problem;
    },
  };
}

// A repeated enum: one checkbox per choice, in a fieldset, with "choose at least N".
function checkboxWidget(f) {
  const boxes = enumChoices(f).map((c) => el('input', {type: 'checkbox', value: c.name,
    id: newId('f')}));
  const legend = el('legend', {}, f.label, requiredMark(f));
  const set = el('fieldset', {className: 'choices'}, legend);
  const entry = fieldEntry(set, f.help);
  set.append(entry.helpNode || '', ...boxes.map((b, i) => el('div', {className: 'check'}, b,
    el('label', {htmlFor: b.id}, enumLabel(f, enumChoices(f)[i].name)))), entry.err);
  const atLeast = f.rules && f.rules.choose ? Number(f.rules.choose.atLeast) : 0;
  const read = () => {
    const v = boxes.filter((b) => b.checked).map((b) => b.value);
    return v.length ? v : undefined;
  };
  return {
    node: set,
    control: boxes[0] || set,
    read,
    check(path, reg, partial) {
      reg.set(path, entry);
      const n = (read() || []).length;
      const problem = !partial && n < atLeast ? 'Choose at least ' + atLeast + '.' : '';
      showFieldError(entry, problem);
      return !problem;
    },
  };
}

// A repeated field of anything else: a list of items, "Add another" and "Remove".
function repeatedWidget(f, make) {
  const items = [];
  const list = el('div', {className: 'items'});
  const set = el('fieldset', {className: 'repeated'}, el('legend', {}, f.label, requiredMark(f)));
  const entry = fieldEntry(set, f.help);
  const add = button('Add ' + f.label.toLowerCase(), () => {
    const item = {};
    const n = items.length + 1;
    item.widget = make(n);
    item.remove = button('Remove ' + f.label.toLowerCase() + ' ' + n, () => {
      items.splice(items.indexOf(item), 1);
      item.node.remove();
      add.focus();
    });
    item.node = el('div', {className: 'item'}, item.widget.node, item.remove);
    items.push(item);
    list.append(item.node);
    (item.widget.control || item.widget.node).focus();
  });
  set.append(entry.helpNode || '', list, add, entry.err);
  const read = () => {
    const v = items.map((i) => i.widget.read()).filter((x) => x !== undefined);
    return v.length ? v : undefined;
  };
  return {
    node: set,
    control: add,
    read,
    check(path, reg, partial) {
      reg.set(path, entry);
      let ok = true;
      items.forEach((i, n) => {
        ok = i.widget.check(path + '[' + n + ']', reg, partial) && ok;
      });
      const atLeast = f.rules && f.rules.choose ? Number(f.rules.choose.atLeast) : 0;
      const problem = !partial && items.length < atLeast ? 'Add at least ' + atLeast + '.' : '';
      showFieldError(entry, problem);
      return ok && !problem;
    },
  };
}

// A nested message: its fields in a fieldset with the field's label as legend.
function messageWidget(f, legendText) {
  const inner = fieldsWidget(f.fields || []);
  const set = el('fieldset', {className: 'message'},
    el('legend', {}, legendText || f.label, requiredMark(f)),
    f.help ? el('p', {className: 'help'}, f.help) : null, inner.node);
  return {
    node: set,
    control: inner.control,
    read: inner.read,
    check(path, reg, partial) {
      // An optional message left empty is no answer: its own required fields do not apply.
      const empty = inner.read() === undefined && !f.required;
      return inner.check(path, reg, partial || empty);
    },
  };
}

function fieldWidget(f) {
  if (f.type === 'message') {
    return f.repeated ? repeatedWidget(f, (n) => messageWidget(f, f.label + ' ' + n)) :
      messageWidget(f);
  }
  if (f.repeated) {
    return f.type === 'enum' ? checkboxWidget(f) :
      repeatedWidget(f, (n) => scalarWidget(Object.assign({}, f, {required: false, help: ''}),
        f.label + ' ' + n));
  }
  return scalarWidget(f);
}

// The fields of a message, each under its JSON name.
function fieldsWidget(fields) {
  const parts = fields.map((f) => [f, fieldWidget(f)]);
  return {
    node: el('div', {className: 'fields'}, parts.map(([, w]) => w.node)),
    control: parts.length ? parts[0][1].control : null,
    read() {
      const o = {};
      for (const [f, w] of parts) {
        const v = w.read();
        if (v !== undefined) {
          o[f.jsonName] = v;
        }
      }
      return Object.keys(o).length ? o : undefined;
    },
    check(path, reg, partial) {
      let ok = true;
      for (const [f, w] of parts) {
        ok = w.check((path ? path + '.' : '') + f.jsonName, reg, partial) && ok;
      }
      return ok;
    },
  };
}

// Focus node, or for a group (a fieldset) the first control in it.
function focusControl(node) {
  const c = node.matches('fieldset') ? node.querySelector('input, select, textarea, button') :
    node;
  if (c) {
    c.focus();
  }
}

// Check every widget of form ([path, widget, partial]: partial leaves required answers to the
// hub); focus the first problem.
function checkAll(form, widgets, reg) {
  reg.clear();
  let ok = true;
  for (const [path, w, partial] of widgets) {
    ok = w.check(path, reg, !!partial) && ok;
  }
  if (!ok) {
    const first = form.querySelector('[aria-invalid="true"]');
    say('Some answers need changing: see the messages next to them.', true);
    if (first) {
      focusControl(first);
    }
  }
  return ok;
}

// Show the hub's refusal e next to the control it names (or its nearest enclosing one).
function showRefusal(e, reg) {
  let path = e.field || '';
  while (path && !reg.has(path)) {
    const shorter = path.replace(/(\[\d+\]|\.?[^.[]*)$/, '');
    path = shorter.length < path.length ? shorter : '';
  }
  say('The hub refused this: ' + e.message, true);
  if (path) {
    const entry = reg.get(path);
    showFieldError(entry, e.message);
    focusControl(entry.control);
  }
}

// What a client record holds, described as a form is (for the same rendering and checks).
const CLIENT_FIELDS = [
  {jsonName: 'givenName', label: 'Given name', type: 'string', required: true,
    rules: {text: {nonBlank: true, maxLength: 100}}, autocomplete: 'off'},
  {jsonName: 'familyName', label: 'Family name', type: 'string', required: true,
    rules: {text: {nonBlank: true, maxLength: 100}}, autocomplete: 'off'},
  {jsonName: 'preferredName', label: 'Preferred name', type: 'string',
    rules: {text: {maxLength: 100}}},
  {jsonName: 'pronouns', label: 'Pronouns', type: 'string', rules: {text: {maxLength: 40}}},
  {jsonName: 'dateOfBirth', label: 'Date of birth', type: 'string',
    rules: {date: {notFuture: true}}},
  {jsonName: 'phone', label: 'Phone', type: 'string', rules: {text: {maxLength: 40}},
    inputType: 'tel'},
  {jsonName: 'email', label: 'Email', type: 'string', rules: {text: {maxLength: 200}},
    inputType: 'email'},
  {jsonName: 'preferredContact', label: 'Preferred contact', type: 'enum',
    rules: {enum: {zeroIsNoAnswer: true}},
    choices: ['CONTACT_UNSPECIFIED', 'CONTACT_PHONE', 'CONTACT_TEXT', 'CONTACT_EMAIL',
      'CONTACT_POST', 'CONTACT_IN_PERSON', 'CONTACT_VIA_REFERRER']
      .map((name, number) => ({name, number}))},
  {jsonName: 'preferredLanguage', label: 'Preferred language', type: 'string',
    rules: {text: {maxLength: 40}}},
  {jsonName: 'interpreterNeeded', label: 'Interpreter needed', type: 'bool'},
  {jsonName: 'safeToLeaveMessage', label: 'Safe to leave a message', type: 'bool'},
  {jsonName: 'safeToSendPost', label: 'Safe to send post', type: 'bool'},
  {jsonName: 'safetyNotes', label: 'Safety notes', type: 'string',
    help: 'For example "do not call before 10am"', rules: {text: {maxLength: 500}}},
];

const CONSENT_METHODS = ['CONSENT_METHOD_UNSPECIFIED', 'CONSENT_VERBAL', 'CONSENT_WRITTEN',
  'CONSENT_DIGITAL'].map((name, number) => ({name, number}));

// The client's consent to share with one agency, as a referral with a typed client carries it.
const CONSENT_FIELDS = [
  {jsonName: 'purpose', label: 'Purpose of sharing', type: 'string', required: true,
    help: 'For example "referral for housing support"', rules: {text: {nonBlank: true,
      maxLength: 200}}},
  {jsonName: 'method', label: 'How the client consented', type: 'enum', required: true,
    rules: {enum: {zeroIsNoAnswer: true}}, choices: CONSENT_METHODS},
  {jsonName: 'givenOn', label: 'Consent given on', type: 'string', help: 'Empty: today',
    rules: {date: {notFuture: true}}},
];

// ---- Listings: inbox and sent ----

const listFilters = {}; // per listing, the filters last used (kept across redraws)

// A listing: inbox or sent, newest first, filtered by state and overdue, a page at a time.
async function showList(op, title, opts) {
  const m = main();
  const o = Object.assign({token: '', state: '', overdue: false}, opts || {});
  listFilters[op] = {state: o.state, overdue: o.overdue};
  const filter = select([['', 'every state'], ...STATES.map((s) => [s, stateName(s)])],
    {id: 'state-filter'});
  filter.value = o.state;
  const overdue = el('input', {type: 'checkbox', id: 'overdue-filter', checked: o.overdue});
  const redo = () => showList(op, title, {state: filter.value, overdue: overdue.checked});
  filter.addEventListener('change', redo);
  overdue.addEventListener('change', redo);
  m.append(heading(title), el('div', {className: 'filters'},
    el('div', {}, labelled('State', filter)),
    el('div', {className: 'check'}, overdue,
      el('label', {htmlFor: 'overdue-filter'}, 'Overdue only'))));
  const req = {limit: PAGE_SIZE};
  if (o.state) {
    req.state = o.state;
  }
  if (o.overdue) {
    req.overdueOnly = true;
  }
  if (o.token) {
    req.pageToken = o.token;
  }
  let page;
  try {
    page = await call(op, req);
  } catch (e) {
    say(e.message, true);
    return;
  }
  const rows = (page.referrals || []).map((r) => el('tr', {},
    el('td', {}, el('a', {href: '#referral/' + encodeURIComponent(r.id)}, r.clientName || r.id)),
    el('td', {className: 'state'}, stateName(r.state)),
    el('td', {}, op === 'list_inbox' ? r.sender : r.recipient),
    el('td', {}, when(r.createdAt)),
    el('td', {className: r.overdue ? 'overdue' : ''}, r.overdue ? 'overdue' : when(r.dueAt))));
  m.append(rows.length ? tableIn(title, ['Client', 'State', op === 'list_inbox' ? 'From' : 'To',
    'Sent', 'Due'], rows) : el('p', {}, 'No referrals.'));
  if (o.token) {
    m.append(button('Newest', () => showList(op, title, {state: o.state, overdue: o.overdue})));
  }
  if (page.nextPageToken) {
    m.append(button('Older', () => showList(op, title, Object.assign({}, o,
      {token: page.nextPageToken}))));
  }
}

// ---- One referral ----

// An answer shown for people: enums by their labels, yes/no, nested answers as sub-lists.
function answerNode(f, v) {
  if (f.type === 'message') {
    return f.repeated ? el('ol', {}, v.map((x) => el('li', {}, answersList(f.fields || [], x)))) :
      answersList(f.fields || [], v);
  }
  const one = (x) => f.type === 'enum' ? enumLabel(f, x) : f.type === 'bool' ? (x ? 'Yes' : 'No') :
    String(x);
  return Array.isArray(v) ? el('ul', {}, v.map((x) => el('li', {}, one(x)))) : one(v);
}

// A value the description does not know, as people read it: times, enum names, lists.
function plainValue(k, v) {
  if (/At$/.test(k) && /^\d+$/.test(String(v))) {
    return when(v);
  }
  if (typeof v === 'string' && /^[A-Z][A-Z0-9_]+$/.test(v)) {
    return choiceLabel(v.replace(/^(CONSENT|CONTACT|BASIS|STATE|REPORT_[A-Z]+)_/, ''));
  }
  if (typeof v === 'boolean') {
    return v ? 'Yes' : 'No';
  }
  if (v !== null && typeof v === 'object') {
    return Array.isArray(v) ? el('ul', {}, v.map((x) => el('li', {}, plainValue('', x)))) :
      answersList([], v);
  }
  return v;
}

// Answers (or a client record, a consent) under the labels of fields; the rest by their names.
function answersList(fields, answers) {
  const known = new Set(fields.map((f) => f.jsonName));
  return dl([...fields.filter((f) => answers[f.jsonName] !== undefined)
    .map((f) => [f.label, answerNode(f, answers[f.jsonName])]),
  ...Object.keys(answers).filter((k) => !known.has(k))
    .map((k) => [label(k), plainValue(k, answers[k])])]);
}

// The actions a party may take on a referral in its state.
function actions(r, mine) {
  const open = ['STATE_SENT', 'STATE_RECEIVED', 'STATE_ACCEPTED'].includes(r.state);
  if (!open) {
    return [];
  }
  if (r.recipient === mine) {
    const a = [];
    if (r.state !== 'STATE_ACCEPTED') {
      a.push(['ACTION_ACCEPT', 'Accept', false], ['ACTION_DECLINE', 'Decline', 'Reason']);
    } else {
      a.push(['ACTION_COMPLETE', 'Complete', 'Outcome']);
    }
    return a;
  }
  return r.sender === mine ? [['ACTION_WITHDRAW', 'Withdraw', 'Reason']] : [];
}

function actionForm(r, acts) {
  const reason = el('textarea', {id: 'reason', rows: 2});
  const form = el('form', {id: 'actions'}, el('h2', {}, 'Act'),
    labelled('Reason or outcome (to decline, complete or withdraw)', reason), el('div'));
  for (const [action, text, needs] of acts) {
    const b = button(text, () => busy(b, async () => {
      if (needs && !reason.value.trim()) {
        say(needs + ' needed to ' + text.toLowerCase(), true);
        reason.focus();
        return;
      }
      try {
        await call('update', {id: r.id, action: action, reason: reason.value || undefined});
        await showReferral(r.id);
        say(text + ': done');
      } catch (e) {
        say(e.message, true);
      }
    }), {id: action.toLowerCase()});
    form.lastChild.append(b);
  }
  return form;
}

// The agencies and forms the hub knows: [partners, forms in force].
async function directory() {
  const [p, f] = await Promise.all([call('list_partners', {}), call('list_forms', {})]);
  return [p.partners || [], (f.forms || []).filter((x) => !x.retired)];
}

// A select of the partner agencies other than mine.
function agencySelect(partners, mine) {
  return select([['', 'Choose an agency'], ...partners.filter((p) => p.id !== mine)
    .map((p) => [p.id, p.name ? p.name + ' (' + p.id + ')' : p.id])]);
}

// Fill formSel with the forms agency accepts.
function fillForms(formSel, partners, forms, agency) {
  const p = partners.find((x) => x.id === agency);
  const ok = forms.filter((f) => p && (p.forms || []).includes(f.name));
  formSel.replaceChildren(...options([['', agency ? 'Choose a form' : 'Choose an agency first'],
    ...ok.map((f) => [f.name, f.title ? f.title + ' (' + f.name + ')' : f.name])]));
}

// Render form name's fields into box; resolves to the widget (null: none chosen), or to
// undefined when another form was chosen meanwhile (box is then that one's).
async function renderForm(box, name, intro) {
  box.replaceChildren();
  box.dataset.form = name;
  if (!name) {
    return null;
  }
  const d = await formDescription(name);
  if (box.dataset.form !== name) {
    return undefined;
  }
  const w = fieldsWidget(d.fields || []);
  box.append(el('fieldset', {className: 'form-answers'}, el('legend', {}, d.title || d.form),
    intro ? el('p', {className: 'help'}, intro) : null,
    d.help ? el('p', {className: 'help'}, d.help) : null, w.node));
  return w;
}

// The agency and form of a referral: a form is drawn once chosen. Gives {node, widgets()}:
// widgets are the [path, widget, partial] to check and read (partial: the hub fills in and
// names the answers still missing, as a forward does).
function agencyAndForm(partners, forms, mine, intro, onAgency) {
  const to = agencySelect(partners, mine);
  const formSel = el('select', {});
  const box = el('div');
  let answers = null;
  fillForms(formSel, partners, forms, '');
  to.addEventListener('change', () => {
    fillForms(formSel, partners, forms, to.value);
    renderForm(box, '');
    answers = null;
    if (onAgency) {
      onAgency();
    }
  });
  formSel.addEventListener('change', async () => {
    try {
      const w = await renderForm(box, formSel.value, intro);
      answers = w === undefined ? answers : w;
    } catch (e) {
      say(e.message, true);
    }
  });
  const toLabel = intro ? 'Agency to refer to' : 'Recipient agency';
  return {
    node: el('div', {}, pickField(toLabel, to), pickField('Form', formSel), box),
    to: () => to.value,
    form: () => formSel.value,
    answers: () => (answers && answers.read()) || {},
    widgets: () => [['to', pickWidget(to)], ['form', pickWidget(formSel)],
      ...(answers ? [['formData', answers, !!intro]] : [])],
  };
}

// Refer the client of r on: another agency, a form it accepts, the answers not known yet.
async function forwardForm(r, mine) {
  const [partners, forms] = await directory();
  const pick = agencyAndForm(partners, forms, mine,
    'Answers already given are carried over; the hub names any still missing.');
  const consent = r.clientId ? null : fieldsWidget(CONSENT_FIELDS);
  const reg = new Map();
  let key = crypto.randomUUID();
  const send = button('Forward referral', () => busy(send, async () => {
    const widgets = pick.widgets();
    if (consent) {
      widgets.push(['consent', consent]);
    }
    if (!checkAll(form, widgets, reg)) {
      return;
    }
    const body = {referralId: r.id, to: pick.to(), form: pick.form(), formData: pick.answers()};
    if (consent) {
      body.consent = Object.assign({toAgency: pick.to()}, consent.read());
    }
    try {
      const made = await call('forward', body, {'Idempotency-Key': key});
      key = crypto.randomUUID();
      go('#referral/' + encodeURIComponent(made.id), 'Referral forwarded');
    } catch (e) {
      showRefusal(e, reg);
    }
  }), {id: 'forward'});
  const form = el('form', {id: 'forward-form', noValidate: true}, el('h2', {}, 'Refer on'),
    pick.node,
    consent ? el('fieldset', {}, el('legend', {}, 'Consent to share with that agency'),
      consent.node) : null, send);
  return form;
}

// A required select (agency, form, client) as a widget, its label given by pickField.
function pickWidget(sel) {
  const entry = sel.entry;
  return {
    node: sel,
    control: sel,
    read: () => sel.value || undefined,
    check(path, reg) {
      reg.set(path, entry);
      showFieldError(entry, sel.value ? '' : 'Required: choose one.');
      return !!sel.value;
    },
  };
}

function pickField(text, sel) {
  sel.id = newId('f');
  sel.required = true;
  sel.entry = fieldEntry(sel, '');
  return el('div', {className: 'field'}, el('label', {htmlFor: sel.id}, text,
    el('span', {className: 'required'}, ' (required)')), sel, sel.entry.err);
}

async function showReferral(id) {
  const m = main();
  let r;
  try {
    r = await call('get', {id: id});
  } catch (e) {
    m.append(heading('Referral ' + id));
    say(e.message, true);
    return;
  }
  const c = r.client || {};
  let fields = [];
  let title = r.form;
  try {
    const d = await formDescription(r.form, r.formVersion);
    fields = d.fields || [];
    title = d.title ? d.title + ' (' + r.form + ')' : r.form;
  } catch (e) {
    // Show the answers under their field names.
  }
  put(m, heading('Referral ' + r.id),
    dl([['State', stateName(r.state)], ['From', r.sender], ['To', r.recipient],
      ['Form', title + ', version ' + r.formVersion], ['Sent', when(r.createdAt)],
      ['Due', r.overdue ? 'overdue' : when(r.dueAt)],
      ['Forwarded from', r.parentId ? el('a', {href: '#referral/' + encodeURIComponent(r.parentId)},
        r.parentId) : '']]),
    el('h2', {}, 'Client'), answersList(CLIENT_FIELDS, c),
    r.clientId ? el('p', {}, el('a', {href: '#client/' + encodeURIComponent(r.clientId)},
      'Stored client ' + r.clientId)) : null,
    r.clientErasedAt ? el('p', {}, 'The client record was erased ' + when(r.clientErasedAt) +
      ' by ' + r.clientErasedBy + '.') : null,
    r.consentWithdrawnAt ? el('p', {}, 'Consent to share was withdrawn ' +
      when(r.consentWithdrawnAt) + '.') : null,
    el('h2', {}, 'Consent'), answersList([], r.consent || {}),
    el('h2', {}, 'Answers'), r.formAnswers ? answersList(fields, r.formAnswers) :
      el('p', {}, r.purgedAt ? 'Removed under the retention policy.' : 'No answers.'),
    el('h2', {}, 'History'),
    el('ol', {}, (r.history || []).map((h) => el('li', {},
      when(h.at), ': ', stateName(h.from) || 'new', ' → ', stateName(h.to), ' by ', h.agency,
      ' (', h.holder, ')', h.reason ? ': ' + h.reason : ''))),
    (r.onward || []).length ? [el('h2', {}, 'Referred on'), el('ul', {}, r.onward.map((o) =>
      el('li', {}, el('a', {href: '#referral/' + encodeURIComponent(o.id)}, o.id), ': to ',
        o.recipient, ', ', o.form, ', ', stateName(o.state))))] : null,
    el('p', {}, el('a', {href: '#audit/referral/' + encodeURIComponent(r.id)}, 'Audit trail')));
  const mine = document.getElementById('who').dataset.agency;
  const acts = actions(r, mine);
  if (acts.length) {
    m.append(actionForm(r, acts));
  }
  if (r.recipient === mine && r.state !== 'STATE_WITHDRAWN' && r.client) {
    try {
      m.append(await forwardForm(r, mine));
    } catch (e) {
      say(e.message, true);
    }
  }
}

// ---- New referral ----

// The live consents or other bases of a stored client that cover agency.
function covering(consents, agency) {
  return consents.filter((c) => !c.withdrawnAt && (c.anyPartner || c.toAgency === agency) &&
    (!c.expires || c.expires >= today()));
}

function consentText(c) {
  return choiceLabel((c.basis || 'BASIS_CONSENT').replace(/^BASIS_/, '')) +
    (c.purpose ? ': ' + c.purpose : '') + (c.reason ? ': ' + c.reason : '') +
    (c.anyPartner ? ' (any partner)' : c.toAgency ? ' (to ' + c.toAgency + ')' : '') +
    (c.expires ? ', until ' + c.expires : '');
}

// The stored-client part of a new referral: pick one, see the consent it has for the agency.
function storedClientPart(clients, agencyOf) {
  const sel = select([['', 'Choose a client'], ...clients.filter((c) => !c.erasedAt)
    .map((c) => [c.id, (c.name || c.id) + ' (' + c.id + ')'])]);
  const shown = el('div', {className: 'consent-shown'});
  shown.setAttribute('aria-live', 'polite');
  let consents = [];
  const node = el('div', {}, pickField('Stored client', sel), shown);
  const refresh = async () => {
    shown.replaceChildren();
    consents = [];
    if (!sel.value) {
      return;
    }
    try {
      consents = (await call('list_consents', {clientId: sel.value})).consents || [];
    } catch (e) {
      say(e.message, true);
    }
    const agency = agencyOf();
    const live = covering(consents, agency);
    if (!agency) {
      shown.append(el('p', {}, 'Choose the agency to see the consent this client has for it.'));
    } else if (live.length) {
      shown.append(el('p', {}, 'Sharing with ' + agency + ' is covered by:'),
        el('ul', {}, live.map((c) => el('li', {}, consentText(c)))));
    } else {
      shown.append(el('p', {}, 'No live consent or other lawful basis covers ' + agency + '. ',
        el('a', {href: '#client/' + encodeURIComponent(sel.value)},
          'Record one on the client\'s page')));
    }
  };
  sel.addEventListener('change', refresh);
  const w = pickWidget(sel);
  return {
    node,
    refresh,
    read: w.read,
    control: sel,
    check(path, reg, partial) {
      if (!w.check(path, reg, partial)) {
        return false;
      }
      const ok = covering(consents, agencyOf()).length > 0;
      showFieldError(sel.entry, ok ? '' : 'No live consent covers the agency: record one first.');
      return ok;
    },
  };
}

async function showNew() {
  const m = main();
  m.append(heading('New referral'));
  let partners, forms, clients;
  try {
    [partners, forms] = await directory();
    clients = (await call('list_clients', {})).clients || [];
  } catch (e) {
    say(e.message, true);
    return;
  }
  const mine = document.getElementById('who').dataset.agency;
  const pick = agencyAndForm(partners, forms, mine, '', () => stored.refresh());
  const stored = storedClientPart(clients, pick.to);
  const typed = fieldsWidget(CLIENT_FIELDS);
  const consent = fieldsWidget(CONSENT_FIELDS);
  const hasStored = clients.some((c) => !c.erasedAt);
  stored.node.hidden = !hasStored;
  const typedPart = el('div', {hidden: hasStored},
    el('fieldset', {}, el('legend', {}, 'Client details'), typed.node),
    el('fieldset', {}, el('legend', {}, 'Consent to share with the agency'), consent.node));
  const kind = (value, text, checked) => {
    const r = el('input', {type: 'radio', name: 'client-kind', value, id: newId('f'), checked});
    r.addEventListener('change', () => {
      stored.node.hidden = value !== 'stored';
      typedPart.hidden = value === 'stored';
    });
    return el('div', {className: 'check'}, r, el('label', {htmlFor: r.id}, text));
  };
  const reg = new Map();
  let key = crypto.randomUUID(); // one per form fill: a second click sends the same referral
  const send = button('Send referral', () => busy(send, async () => {
    const isStored = !stored.node.hidden;
    const widgets = [...pick.widgets(), ...(isStored ? [['clientId', stored]] :
      [['client', typed], ['consent', consent]])];
    if (!checkAll(form, widgets, reg)) {
      return;
    }
    const body = {to: pick.to(), form: pick.form(), formData: pick.answers()};
    if (isStored) {
      body.clientId = stored.read();
    } else {
      body.client = typed.read();
      body.consent = Object.assign({toAgency: pick.to()}, consent.read());
    }
    try {
      const made = await call('submit', body, {'Idempotency-Key': key});
      key = crypto.randomUUID();
      go('#referral/' + encodeURIComponent(made.id), 'Referral sent');
    } catch (e) {
      showRefusal(e, reg);
    }
  }), {id: 'send'});
  const form = el('form', {id: 'new-referral', noValidate: true}, pick.node,
    el('fieldset', {}, el('legend', {}, 'Client'),
      kind('stored', 'A client already recorded', hasStored),
      kind('typed', 'A new client', !hasStored),
      stored.node, typedPart), send);
  form.addEventListener('submit', (ev) => ev.preventDefault());
  m.append(form);
}

// ---- Clients ----

async function showClients(search) {
  const m = main();
  const q = el('input', {type: 'search', id: 'client-search', value: search || ''});
  const find = el('form', {className: 'filters'}, el('div', {},
    labelled('Search by name', q)), el('button', {type: 'submit'}, 'Search'));
  find.setAttribute('role', 'search');
  find.addEventListener('submit', (ev) => {
    ev.preventDefault();
    showClients(q.value.trim());
  });
  m.append(heading('Clients'), find);
  let list;
  try {
    list = (await call('list_clients', search ? {search} : {})).clients || [];
  } catch (e) {
    say(e.message, true);
    return;
  }
  const rows = list.map((c) => el('tr', {},
    el('td', {}, el('a', {href: '#client/' + encodeURIComponent(c.id)}, c.name || c.id)),
    el('td', {}, c.id), el('td', {}, when(c.updatedAt || c.createdAt)),
    el('td', {}, c.erasedAt ? 'erased ' + when(c.erasedAt) : '')));
  m.append(rows.length ? tableIn('Clients', ['Name', 'Id', 'Updated', 'Erased'], rows) :
    el('p', {}, 'No clients.'), addClientForm());
}

function addClientForm() {
  const w = fieldsWidget(CLIENT_FIELDS);
  const reg = new Map();
  const add = button('Add client', () => busy(add, async () => {
    if (!checkAll(form, [['record', w]], reg)) {
      return;
    }
    try {
      const c = await call('add_client', {record: w.read()});
      go('#client/' + encodeURIComponent(c.id), 'Client added' +
        ((c.possibleDuplicates || []).length ? '; other clients have the same name and date ' +
          'of birth: ' + c.possibleDuplicates.join(', ') : ''));
    } catch (e) {
      showRefusal(e, reg);
    }
  }), {id: 'add-client'});
  const form = el('form', {id: 'add-client-form', noValidate: true}, el('h2', {}, 'Add a client'),
    w.node, add);
  return form;
}

// Record a consent or another lawful basis for client id.
function consentForm(id, partners, mine) {
  const to = select([['', 'Choose an agency'], ['*', 'Any partner agency'],
    ...partners.filter((p) => p.id !== mine).map((p) => [p.id, p.name || p.id])]);
  const fields = fieldsWidget([
    {jsonName: 'basis', label: 'Basis', type: 'enum', required: true,
      choices: ['BASIS_CONSENT', 'BASIS_SAFEGUARDING', 'BASIS_LEGAL_OBLIGATION',
        'BASIS_VITAL_INTERESTS'].map((name, i) => ({name, number: i + 1}))},
    {jsonName: 'purpose', label: 'Purpose', type: 'string', help: 'Needed for consent',
      rules: {text: {maxLength: 200}}},
    {jsonName: 'method', label: 'How the client consented', type: 'enum',
      rules: {enum: {zeroIsNoAnswer: true}}, choices: CONSENT_METHODS},
    {jsonName: 'reason', label: 'Reason', type: 'string',
      help: 'Needed for a basis other than consent', rules: {text: {maxLength: 500}}},
    {jsonName: 'expires', label: 'Last day it covers', type: 'string', help: 'Empty: no end',
      rules: {date: {notPast: true}}},
  ]);
  const reg = new Map();
  const rec = button('Record consent', () => busy(rec, async () => {
    if (!checkAll(form, [['toAgency', pickWidget(to)], ['', fields]], reg)) {
      return;
    }
    const body = Object.assign({clientId: id}, fields.read(),
      to.value === '*' ? {anyPartner: true} : {toAgency: to.value});
    try {
      await call('add_consent', body);
      await showClient(id);
      say('Consent recorded');
    } catch (e) {
      showRefusal(e, reg);
    }
  }), {id: 'add-consent'});
  const form = el('form', {id: 'consent-form', noValidate: true},
    el('h2', {}, 'Record a consent or other basis'), pickField('Covers', to), fields.node, rec);
  return form;
}

// The consents of a client, each live one with its own withdraw button and reason.
function consentTable(id, consents) {
  const rows = consents.map((c) => {
    const cell = el('td');
    if (c.withdrawnAt) {
      cell.append('withdrawn ' + when(c.withdrawnAt) + (c.withdrawReason ? ': ' +
        c.withdrawReason : ''));
    } else {
      const reason = el('input', {type: 'text'});
      const b = button('Withdraw', () => busy(b, async () => {
        try {
          await call('withdraw_consent', {id: c.id, reason: reason.value || undefined});
          await showClient(id);
          say('Consent withdrawn');
        } catch (e) {
          say(e.message, true);
        }
      }));
      b.setAttribute('aria-label', 'Withdraw consent ' + c.id);
      cell.append(...labelled('Reason for withdrawing ' + c.id, reason), b);
    }
    return el('tr', {}, el('td', {}, consentText(c)), el('td', {}, c.recordedBy || '', ', ',
      when(c.recordedAt)), cell);
  });
  return rows.length ? tableIn('Consents', ['Consent', 'Recorded', 'Withdraw'], rows) :
    el('p', {}, 'No consent recorded.');
}

// Erase a client: a reason, then a confirmation step where the client's id is typed.
function eraseForm(c) {
  const reason = el('textarea', {rows: 2});
  const confirmBox = el('div', {className: 'confirm', hidden: true});
  const typedId = el('input', {type: 'text', autocomplete: 'off'});
  const start = button('Erase client…', () => {
    if (!reason.value.trim()) {
      say('A reason is needed to erase a client', true);
      reason.focus();
      return;
    }
    confirmBox.hidden = false;
    typedId.focus();
  }, {id: 'erase'});
  const doIt = button('Erase for good', () => busy(doIt, async () => {
    if (typedId.value.trim() !== c.id) {
      say('Type the client id ' + c.id + ' to confirm', true);
      typedId.focus();
      return;
    }
    try {
      await call('erase_client', {id: c.id, reason: reason.value});
      await showClient(c.id);
      say('Client erased');
    } catch (e) {
      say(e.message, true);
    }
  }), {id: 'erase-confirm'});
  const cancel = button('Cancel', () => {
    confirmBox.hidden = true;
    typedId.value = '';
    start.focus();
  });
  confirmBox.append(el('p', {}, 'This removes the client\'s details from the hub and from ' +
    'every referral that shared them. It cannot be undone.'),
  ...labelled('Type the client id (' + c.id + ') to confirm', typedId), doIt, cancel);
  return el('form', {id: 'erase-form', noValidate: true}, el('h2', {}, 'Erase'),
    ...labelled('Reason for erasing', reason), start, confirmBox);
}

async function showClient(id) {
  const m = main();
  let c, consents, partners;
  try {
    c = await call('get_client', {id});
    consents = (await call('list_consents', {clientId: id})).consents || [];
    partners = (await call('list_partners', {})).partners || [];
  } catch (e) {
    m.append(heading('Client ' + id));
    say(e.message, true);
    return;
  }
  const mine = document.getElementById('who').dataset.agency;
  const rec = c.record || {};
  m.append(heading('Client ' + (c.name || c.id)),
    dl([['Id', c.id], ['Version', c.version], ['Owner', c.owner], ['Added', when(c.createdAt)],
      ['Updated', when(c.updatedAt)], ['Erased', c.erasedAt ? when(c.erasedAt) + ' by ' +
        c.erasedBy + (c.eraseReason ? ': ' + c.eraseReason : '') : '']]),
    el('h2', {}, 'Record'), answersList(CLIENT_FIELDS, rec),
    el('h2', {}, 'Consent'), consentTable(id, consents),
    el('p', {}, el('a', {href: '#audit/client/' + encodeURIComponent(id)}, 'Audit trail')));
  if (c.owner === mine && !c.erasedAt) {
    m.append(consentForm(id, partners, mine), eraseForm(c));
  }
}

// ---- Audit ----

// The audit trail of a referral or a client (what the hub's audit operation answers), a page
// of entries at a time, newest first.
async function showAudit(kind, id, page) {
  const m = main();
  const what = select([['referral', 'A referral'], ['client', 'A client']], {id: 'audit-kind'});
  what.value = kind || 'referral';
  const idIn = el('input', {type: 'text', id: 'audit-id', value: id || ''});
  const ask = el('form', {className: 'filters'}, el('div', {}, labelled('Trail of', what)),
    el('div', {}, labelled('Referral or client id', idIn)),
    el('button', {type: 'submit'}, 'Show audit trail'));
  ask.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!idIn.value.trim()) {
      say('Give a referral or client id', true);
      idIn.focus();
      return;
    }
    location.hash = '#audit/' + what.value + '/' + encodeURIComponent(idIn.value.trim());
  });
  m.append(heading('Audit'), ask);
  if (!id) {
    m.append(el('p', {}, 'Shows who read or changed a referral or a client record, and when.'));
    return;
  }
  let entries;
  try {
    entries = ((await call('audit', kind === 'client' ? {clientId: id} : {referralId: id}))
      .entries || []).slice().reverse();
  } catch (e) {
    say(e.message, true);
    return;
  }
  const n = page || 0;
  const shown = entries.slice(n * PAGE_SIZE, (n + 1) * PAGE_SIZE);
  m.append(el('p', {}, entries.length + ' entries, newest first' + (entries.length > PAGE_SIZE ?
    '; page ' + (n + 1) + ' of ' + Math.ceil(entries.length / PAGE_SIZE) : '') + '.'));
  if (shown.length) {
    m.append(tableIn('Audit trail', ['When', 'Agency', 'Holder', 'Action', 'Record'],
      shown.map((a) => el('tr', {}, el('td', {}, new Date(Number(a.atMs)).toLocaleString()),
        el('td', {}, a.agency), el('td', {}, a.holder), el('td', {}, a.action),
        el('td', {}, a.record)))));
  }
  if (n > 0) {
    m.append(button('Newer', () => showAudit(kind, id, n - 1)));
  }
  if ((n + 1) * PAGE_SIZE < entries.length) {
    m.append(button('Older', () => showAudit(kind, id, n + 1)));
  }
}

// ---- Report ----

// A step's time as people read it: "at most 2 days", "more than 90 days".
function duration(t) {
  if (!t || !t.count) {
    return '–';
  }
  const s = Number(t.medianS);
  if (s > 7776000) {
    return 'more than 90 days';
  }
  const units = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  const [size, name] = units.find(([u]) => s >= u) || [1, 'second'];
  const n = Math.round(s / size);
  return 'at most ' + n + ' ' + name + (n === 1 ? '' : 's');
}

const REPORT_COUNTS = [['sent', 'Sent'], ['accepted', 'Accepted'], ['declined', 'Declined'],
  ['withdrawn', 'Withdrawn'], ['completed', 'Completed'], ['open', 'Open'],
  ['overdue', 'Overdue'], ['forwarded', 'Forwarded']];

// A count of a report row, or why it is not there.
function reportCount(row, key) {
  if ((row.suppressed || []).includes(key)) {
    return 'withheld';
  }
  return String(row[key] || 0);
}

// The report as a table with a caption and a sentence that says what it shows.
function reportTable(rep) {
  const by = rep.by || 'REPORT_BY_PATHWAY';
  const keys = by === 'REPORT_BY_MONTH' ? [['month', 'Month']] : by === 'REPORT_BY_FORM' ?
    [['form', 'Form']] : [['sender', 'From'], ['recipient', 'To'], ['form', 'Form']];
  const own = rep.scope !== 'REPORT_SCOPE_NETWORK';
  const rows = (rep.rows || []).map((row) => el('tr', {},
    own ? el('td', {}, choiceLabel((row.direction || '').replace(/^REPORT_DIRECTION_/, ''))) : null,
    keys.map(([k]) => el('td', {}, row[k] || '')),
    REPORT_COUNTS.map(([k]) => el('td', {className: 'num'}, reportCount(row, k))),
    el('td', {className: 'num'}, row.acceptanceRate !== undefined ?
      Math.round(Number(row.acceptanceRate) * 100) + '%' : '–'),
    el('td', {}, duration(row.toAnswer)), el('td', {}, duration(row.toComplete))));
  const total = (k) => (rep.rows || []).reduce((a, r) => a + Number(r[k] || 0), 0);
  const what = 'Referrals sent from ' + rep.fromDay + ' to ' + rep.toDay + ', by ' +
    choiceLabel(by.replace(/^REPORT_BY_/, '')).toLowerCase() +
    (own ? ', for ' + (rep.agency || 'this agency') : ', across the network');
  const summary = el('p', {id: newId('sum')}, what + ': ' + total('sent') + ' sent, ' +
    total('accepted') + ' accepted, ' + total('declined') + ' declined, ' + total('completed') +
    ' completed' + (own ? '' : ' (not counting withheld counts; counts under ' +
      rep.minCount + ' are withheld)') + '. Times are medians from the referral being sent.');
  if (!rows.length) {
    return el('p', {}, what + ': no referrals.');
  }
  const t = tableIn('Report', [own ? 'Direction' : null, ...keys.map(([, h]) => h),
    ...REPORT_COUNTS.map(([, h]) => h), 'Acceptance rate', 'Time to answer',
    'Time to complete'].filter((h) => h !== null), rows);
  t.firstChild.prepend(el('caption', {}, what));
  t.setAttribute('aria-describedby', summary.id);
  return el('div', {}, summary, t);
}

async function showReport(opts) {
  const m = main();
  const o = opts || {};
  const from = el('input', {type: 'date', value: o.fromDay || ''});
  const to = el('input', {type: 'date', value: o.toDay || ''});
  const by = select([['REPORT_BY_PATHWAY', 'Pathway'], ['REPORT_BY_FORM', 'Form'],
    ['REPORT_BY_MONTH', 'Month']]);
  by.value = o.by || 'REPORT_BY_PATHWAY';
  const scope = select([['REPORT_SCOPE_OWN', 'This agency'],
    ['REPORT_SCOPE_NETWORK', 'The whole network']]);
  scope.value = o.scope || 'REPORT_SCOPE_OWN';
  const ask = el('form', {className: 'filters'},
    el('div', {}, labelled('From', from)), el('div', {}, labelled('To', to)),
    el('div', {}, labelled('Group by', by)), el('div', {}, labelled('Covering', scope)),
    el('button', {type: 'submit'}, 'Show report'));
  ask.addEventListener('submit', (ev) => {
    ev.preventDefault();
    showReport({fromDay: from.value, toDay: to.value, by: by.value, scope: scope.value});
  });
  m.append(heading('Report'), el('p', {className: 'help'}, 'What became of the referrals ' +
    'sent in the period (empty dates: the last 90 days).'), ask);
  const req = {by: by.value, scope: scope.value};
  if (from.value) {
    req.fromDay = from.value;
  }
  if (to.value) {
    req.toDay = to.value;
  }
  try {
    m.append(reportTable(await call('report', req)));
  } catch (e) {
    say(e.message, true);
  }
}

// ---- Routes ----

let flash = ''; // said once the next page is drawn

// Go to the page at hash, saying text there.
function go(hash, text) {
  flash = text;
  location.hash = hash;
}

// The pages, by the first part of the location's hash (#inbox, #referral/ID; #/inbox too).
const ROUTES = {
  '': ['inbox', () => showList('list_inbox', 'Inbox', listFilters.list_inbox)],
  'inbox': ['inbox', () => showList('list_inbox', 'Inbox', listFilters.list_inbox)],
  'sent': ['sent', () => showList('list_sent', 'Sent', listFilters.list_sent)],
  'new': ['new', () => showNew()],
  'referral': [null, (a) => showReferral(a[0] || '')],
  'clients': ['clients', () => showClients('')],
  'client': ['clients', (a) => showClient(a[0] || '')],
  'audit': ['audit', (a) => showAudit(a[0], a[1])],
  'report': ['report', () => showReport()],
};

let draws = 0; // the number of the latest draw started by route
let refocus = ''; // what a live redraw focuses again once drawn (focusedSelector)
let news = []; // what the live redraws not drawn yet are for (eventText)

// Show the page the location names; focus its heading when asked (after a navigation). Resolves
// true once drawn, false when a newer draw began meanwhile (this one's result is dropped).
// <main> is aria-busy while the latest draw waits for the hub.
async function route(focus) {
  const [page, ...args] = location.hash.replace(/^#\/?/, '').split('/');
  const [nav, show] = ROUTES[page] || ROUTES[''];
  const text = flash;
  const draw = ++draws;
  const m = document.getElementById('main');
  flash = '';
  say('');
  if (focus === true) {
    refocus = '';
    news = [];
  }
  m.setAttribute('aria-busy', 'true');
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === nav) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  }
  await show(args.map((x) => decodeURIComponent(x)));
  if (draw !== draws) {
    return false;
  }
  m.setAttribute('aria-busy', 'false');
  if (text) {
    say(text);
  }
  const h = document.querySelector('main h1');
  if (focus === true && h) {
    h.focus();
  }
  return true;
}

// What an event says happened, for the status line: ids and agencies only.
function eventText(ev) {
  const r = ev.referral || {};
  const mine = document.getElementById('who').dataset.agency;
  if (!r.id) {
    return 'The list was updated';
  }
  if (ev.kind === 'EVENT_SUBMITTED') {
    return r.recipient === mine ? 'New referral ' + r.id + ' from ' + r.sender :
      'Referral ' + r.id + ' sent to ' + r.recipient;
  }
  if (ev.kind === 'EVENT_OVERDUE') {
    return 'Referral ' + r.id + ' is overdue';
  }
  return 'Referral ' + r.id + ' is now ' + stateName(r.state);
}

// The focused control in <main>, as a selector that finds it again in a redraw (its href or
// id), or '' when focus is elsewhere.
function focusedSelector() {
  const e = document.activeElement;
  if (!e || !document.getElementById('main').contains(e)) {
    return '';
  }
  const href = e.getAttribute('href');
  return href ? 'a[href="' + CSS.escape(href) + '"]' : e.id ? '#' + CSS.escape(e.id) : '';
}

// Redraw the listing on screen for event ev: focus stays on the same link or control, and the
// status line says what happened.
// Overlapping redraws keep the first one's focus (the control focused before any of them), and
// the last one drawn says what all of them were for.
async function redraw(ev) {
  refocus = focusedSelector() || refocus;
  news.push(eventText(ev));
  if (!await route(false)) {
    return;
  }
  const e = refocus && document.querySelector('main ' + refocus);
  refocus = '';
  if (e) {
    e.focus();
  }
  say(news.join('. '));
  news = [];
}

// Live: each event of the agency redraws a listing on screen (EventSource resumes by itself,
// sending the last id it saw).
function live() {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('message', (msg) => {
    const page = location.hash.replace(/^#\/?/, '').split('/')[0];
    if (page === '' || page === 'inbox' || page === 'sent') {
      let ev = {};
      try {
        ev = JSON.parse(msg.data);
      } catch (e) {
        // Not an event as the hub sends them: redraw all the same.
      }
      redraw(ev);
    }
  });
}

async function start() {
  // The skip link moves focus without changing the hash (which names the page shown).
  document.querySelector('.skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    document.getElementById('main').focus();
  });
  try {
    const hello = await call('hello', {protocolVersion: 1});
    const who = document.getElementById('who');
    who.textContent = hello.holder + ', ' + hello.agency;
    who.dataset.agency = hello.agency;
  } catch (e) {
    say(e.message, true);
  }
  window.addEventListener('hashchange', () => route(true));
  route(false);
  live();
}

document.addEventListener('DOMContentLoaded', start);
