// refex web pages: the inbox, sent referrals and one referral, over the hub's JSON API.
// Every value from the hub is put in the page as text (textContent / text nodes), never as HTML.
'use strict';

const STATES = ['STATE_SENT', 'STATE_RECEIVED', 'STATE_ACCEPTED', 'STATE_DECLINED',
  'STATE_COMPLETED', 'STATE_WITHDRAWN'];

// Make an element: attrs are properties (not HTML), children are nodes or text.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  for (const c of children) {
    if (c !== null && c !== undefined) {
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  return e;
}

function say(text, isError) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.className = isError ? 'status error' : 'status';
}

// Call an operation: a same-origin POST of JSON, which the hub's CSRF rules let through.
async function call(op, body) {
  const r = await fetch('/api/v1/' + op, {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(body || {}),
    credentials: 'same-origin',
  });
  const json = await r.json().catch(() => ({message: 'the hub answered ' + r.status}));
  if (!r.ok) {
    throw new Error((json.message || 'refused') + (json.field ? ' (' + json.field + ')' : ''));
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

function main() {
  const m = document.getElementById('main');
  m.replaceChildren();
  return m;
}

// A listing: inbox or sent, newest first, filtered by state, a page at a time.
async function showList(op, title, token, state) {
  const m = main();
  const filter = el('select', {id: 'state-filter'}, el('option', {value: ''}, 'every state'),
    ...STATES.map((s) => el('option', {value: s, selected: s === state}, stateName(s))));
  filter.addEventListener('change', () => showList(op, title, '', filter.value));
  m.append(el('h2', {}, title), el('label', {htmlFor: 'state-filter'}, 'State'), filter);
  const req = {limit: 25};
  if (state) {
    req.state = state;
  }
  if (token) {
    req.pageToken = token;
  }
  let page;
  try {
    page = await call(op, req);
  } catch (e) {
    say(e.message, true);
    return;
  }
  const rows = (page.referrals || []).map((r) => el('tr', {},
    el('td', {}, el('a', {href: '#referral/' + r.id}, r.clientName || r.id)),
    el('td', {className: 'state'}, stateName(r.state)),
    el('td', {}, op === 'list_inbox' ? r.sender : r.recipient),
    el('td', {}, when(r.createdAt)),
    el('td', {className: r.overdue ? 'overdue' : ''}, r.overdue ? 'overdue' : when(r.dueAt))));
  const table = el('table', {id: 'referrals'},
    el('thead', {}, el('tr', {}, el('th', {}, 'Client'), el('th', {}, 'State'),
      el('th', {}, op === 'list_inbox' ? 'From' : 'To'), el('th', {}, 'Sent'),
      el('th', {}, 'Due'))),
    el('tbody', {}, ...rows));
  m.append(rows.length ? table : el('p', {}, 'No referrals.'));
  if (page.nextPageToken) {
    const more = el('button', {type: 'button'}, 'Older');
    more.addEventListener('click', () => showList(op, title, page.nextPageToken, state));
    m.append(more);
  }
}

function dl(pairs) {
  const d = el('dl');
  for (const [k, v] of pairs) {
    if (v !== undefined && v !== null && v !== '') {
      d.append(el('dt', {}, k), el('dd', {}, typeof v === 'object' ? JSON.stringify(v) : v));
    }
  }
  return d;
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

async function showReferral(id) {
  const m = main();
  let r;
  try {
    r = await call('get', {id: id});
  } catch (e) {
    say(e.message, true);
    return;
  }
  const c = r.client || {};
  m.append(el('h2', {}, 'Referral ', r.id),
    dl([['State', stateName(r.state)], ['From', r.sender], ['To', r.recipient],
      ['Form', r.form + ' v' + r.formVersion], ['Sent', when(r.createdAt)],
      ['Due', r.overdue ? 'overdue' : when(r.dueAt)]]),
    el('h3', {}, 'Client'),
    dl(Object.keys(c).map((k) => [label(k), c[k]])),
    el('h3', {}, 'Consent'),
    dl(Object.keys(r.consent || {}).map((k) => [label(k), r.consent[k]])),
    el('h3', {}, 'Answers'),
    dl(Object.keys(r.formAnswers || {}).map((k) => [label(k), r.formAnswers[k]])),
    el('h3', {}, 'History'),
    el('ol', {}, ...(r.history || []).map((h) => el('li', {},
      when(h.at), ': ', stateName(h.from) || 'new', ' → ', stateName(h.to), ' by ', h.agency,
      ' (', h.holder, ')', h.reason ? ': ' + h.reason : ''))));
  const mine = document.getElementById('who').dataset.agency;
  const acts = actions(r, mine);
  if (acts.length) {
    const reason = el('textarea', {id: 'reason', rows: 2, cols: 40});
    const form = el('form', {id: 'actions'}, el('h3', {}, 'Act'),
      el('label', {htmlFor: 'reason'}, 'Reason or outcome (to decline, complete or withdraw)'),
      reason, el('div'));
    for (const [action, text, needs] of acts) {
      const b = el('button', {type: 'button', id: action.toLowerCase()}, text);
      b.addEventListener('click', async () => {
        if (needs && !reason.value.trim()) {
          say(needs + ' needed to ' + text.toLowerCase(), true);
          reason.focus();
          return;
        }
        try {
          await call('update', {id: r.id, action: action, reason: reason.value || undefined});
          say(text + ': done');
          showReferral(r.id);
        } catch (e) {
          say(e.message, true);
        }
      });
      form.lastChild.append(b);
    }
    m.append(form);
  }
}

function route() {
  const hash = location.hash.replace(/^#/, '');
  say('');
  if (hash.startsWith('referral/')) {
    return showReferral(decodeURIComponent(hash.slice(9)));
  }
  if (hash === 'sent') {
    return showList('list_sent', 'Sent', '', '');
  }
  return showList('list_inbox', 'Inbox', '', '');
}

// Live: each event of the agency redraws a listing on screen (EventSource resumes by itself,
// sending the last id it saw).
function live() {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('message', () => {
    const hash = location.hash.replace(/^#/, '');
    if (!hash.startsWith('referral/')) {
      route();
    }
  });
}

async function start() {
  try {
    const hello = await call('hello', {protocolVersion: 1});
    const who = document.getElementById('who');
    who.textContent = hello.holder + ', ' + hello.agency;
    who.dataset.agency = hello.agency;
  } catch (e) {
    say(e.message, true);
  }
  window.addEventListener('hashchange', route);
  route();
  live();
}

document.addEventListener('DOMContentLoaded', start);
