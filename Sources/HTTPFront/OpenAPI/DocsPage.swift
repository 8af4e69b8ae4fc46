/// The API reference page served at `GET /docs`: fetches `/openapi.json` and renders it
/// with inline, dependency-free JavaScript and CSS (no external scripts, styles or
/// fonts), so it works under the policy ``DocsRoutes`` sends (`default-src 'none'`,
/// inline script and style, `connect-src 'self'`). Every text from the document is
/// inserted as a text node.
enum DocsPage {
    static let html: String = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>API reference</title>
    <style>
    :root { --fg: #1d2330; --muted: #5d6678; --line: #dde2ea; --bg: #f5f7fa; --card: #fff; --code: #eef1f6; --accent: #2f5fd0; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
    code, .mono, .path, .type, .media, .pname, .status { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
    header { background: #1d2330; color: #fff; padding: 24px 32px; }
    header h1 { margin: 0; font-size: 24px; }
    header .version { font-size: 12px; background: #3a4357; border-radius: 10px; padding: 2px 8px; margin-left: 10px; vertical-align: middle; }
    header p { margin: 8px 0 0; color: #c9d0dd; max-width: 920px; }
    header code { background: #3a4357; color: #fff; }
    main { max-width: 1120px; margin: 0 auto; padding: 20px 32px 64px; }
    #filter { width: 100%; padding: 8px 12px; font-size: 15px; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 8px; }
    h2 { font-size: 19px; margin: 28px 0 2px; }
    .tagdesc { color: var(--muted); margin: 0 0 8px; }
    details.op, details.schema-def { background: var(--card); border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; }
    details.op > summary, details.schema-def > summary { cursor: pointer; padding: 8px 12px; display: flex; gap: 12px; align-items: center; }
    details[open] > summary { border-bottom: 1px solid var(--line); }
    .method { font: 600 12px/1 ui-monospace, monospace; color: #fff; border-radius: 4px; padding: 5px 0; width: 64px; text-align: center; flex: none; }
    .get { background: #2f7d4f; } .post { background: #2f5fd0; } .put { background: #a86a12; }
    .patch { background: #7a4fc0; } .delete { background: #b23b3b; } .other { background: #5d6678; }
    .path { font-size: 14px; word-break: break-all; }
    .sum { color: var(--muted); margin-left: auto; text-align: right; }
    .body { padding: 4px 16px 16px; }
    h4 { margin: 16px 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
    table { border-collapse: collapse; width: 100%; font-size: 14px; }
    th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
    th { font-weight: 600; color: var(--muted); }
    code { font-size: 13px; background: var(--code); border-radius: 3px; padding: 0 3px; }
    .resp { padding: 6px 0; border-bottom: 1px solid var(--line); }
    .status { font-weight: 700; margin-right: 8px; }
    .s2 { color: #2f7d4f; } .s3 { color: #5d6678; } .s4 { color: #a86a12; } .s5 { color: #b23b3b; } .sd { color: #5d6678; }
    .media { font-size: 12px; color: var(--muted); margin-top: 6px; }
    ul.tree { list-style: none; margin: 2px 0; padding-left: 18px; border-left: 1px dotted #c5ccd8; }
    ul.tree li { margin: 3px 0; }
    .pname { font-weight: 600; font-size: 13px; }
    .req { color: #b23b3b; font-size: 12px; margin-left: 4px; }
    .type { color: var(--accent); font-size: 13px; margin-left: 6px; }
    .note { color: var(--muted); font-size: 13px; margin-left: 6px; }
    .desc { color: var(--muted); font-size: 14px; }
    details.ref > summary { cursor: pointer; display: inline; }
    .error { color: #b23b3b; }
    [hidden] { display: none !important; }
    </style>
    </head>
    <body>
    <header><h1 id="title">API reference</h1><p id="description"></p></header>
    <main>
    <input id="filter" type="search" placeholder="Filter operations by path, summary or id" aria-label="Filter operations">
    <div id="content">Loading the API document…</div>
    </main>
    <script>
    (function () {
      'use strict';
      var spec = {};
      var METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

      function el(tag, cls, text) {
        var e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined && text !== null) e.textContent = String(text);
        return e;
      }
      function add(parent) {
        for (var i = 1; i < arguments.length; i++) {
          var c = arguments[i];
          if (c !== undefined && c !== null) parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
        }
        return parent;
      }
      // Text with `code` spans, built from text nodes only (never parsed as HTML).
      function rich(tag, cls, text) {
        var e = el(tag, cls);
        String(text || '').split('`').forEach(function (part, i) { if (part) add(e, i % 2 ? el('code', null, part) : part); });
        return e;
      }
      function refName(ref) { return String(ref).split('/').pop(); }
      function resolve(ref) {
        if (typeof ref !== 'string' || ref.indexOf('#/') !== 0) return null;
        return ref.slice(2).split('/').reduce(function (node, key) {
          return node ? node[key.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
        }, spec) || null;
      }
      function deref(x) {
        for (var n = 0; x && x.$ref && n < 20; n++) x = resolve(x.$ref);
        return x || {};
      }
      // Lazily rendered content: built the first time the <details> opens.
      function lazy(details, build) {
        var done = false;
        details.addEventListener('toggle', function () {
          if (details.open && !done) { done = true; build(details); }
        });
        return details;
      }

      function typeLabel(s) {
        if (s.$ref) return refName(s.$ref);
        var t = s.type;
        if (Array.isArray(t)) return t.map(function (x) { return x === 'array' ? arrayLabel(s) : x; }).join(' | ');
        if (t === 'array') return arrayLabel(s);
        if (t) return t + (s.format ? ' <' + s.format + '>' : '');
        if (s.const !== undefined) return 'constant';
        if (s.enum) return 'enum';
        if (s.oneOf) return 'one of';
        if (s.anyOf) return 'any of';
        if (s.allOf) return 'all of';
        if (s.properties) return 'object';
        return 'any';
      }
      function arrayLabel(s) { return 'array of ' + typeLabel(s.items || {}); }
      function constraints(s) {
        var out = [];
        if (s.enum) out.push('one of ' + s.enum.map(function (v) { return JSON.stringify(v); }).join(', '));
        if (s.const !== undefined) out.push('= ' + JSON.stringify(s.const));
        [['minimum', '≥ '], ['maximum', '≤ '], ['minLength', 'min length '], ['maxLength', 'max length '],
         ['minItems', 'min items '], ['maxItems', 'max items ']].forEach(function (p) {
          if (s[p[0]] !== undefined) out.push(p[1] + s[p[0]]);
        });
        if (s.pattern) out.push('pattern ' + s.pattern);
        if (s.default !== undefined) out.push('default ' + JSON.stringify(s.default));
        if (s.readOnly) out.push('read-only');
        if (s.additionalProperties === false) out.push('no other fields');
        return out;
      }
      function hasStructure(s) {
        if (!s || typeof s !== 'object') return false;
        return Object.keys(s).some(function (k) { return k !== 'type' && k !== 'format'; });
      }

      // Renders `schema` into `into`: its type, constraints and description, then its
      // children. A $ref opens on demand; a $ref already on the path is not expanded again.
      function schemaBody(schema, into, stack) {
        var s = schema || {};
        if (s.$ref) {
          var ref = s.$ref, target = resolve(ref);
          if (!target) { add(into, el('span', 'type', refName(ref)), el('span', 'note', '(unresolved)')); return; }
          if (stack.indexOf(ref) >= 0) { add(into, el('span', 'type', refName(ref)), el('span', 'note', '(recursive)')); return; }
          if (stack.length === 0) {
            // A body's or a response's own schema: shown open.
            add(into, el('span', 'type', refName(ref)));
            describe(target, into, [ref]);
            return;
          }
          var d = el('details', 'ref');
          add(d, add(el('summary'), el('span', 'type', refName(ref)), el('span', 'note', typeLabel(target))));
          add(into, lazy(d, function (box) { describe(target, box, stack.concat([ref])); }));
          return;
        }
        add(into, el('span', 'type', typeLabel(s)));
        describe(s, into, stack);
      }
      function describe(s, into, stack) {
        var c = constraints(s);
        if (c.length) add(into, el('span', 'note', c.join(' · ')));
        if (s.description) add(into, rich('div', 'desc', s.description));
        var list = el('ul', 'tree');
        function item(label, child, required, cls) {
          var li = add(el('li'), el('span', cls || 'pname', label));
          if (required) add(li, el('span', 'req', 'required'));
          schemaBody(child, li, stack);
          add(list, li);
        }
        var req = s.required || [];
        Object.keys(s.properties || {}).forEach(function (name) {
          item(name, s.properties[name], req.indexOf(name) >= 0);
        });
        if (s.items && (s.items.$ref || hasStructure(s.items))) item('items', s.items, false, 'note');
        if (s.additionalProperties && typeof s.additionalProperties === 'object' && Object.keys(s.additionalProperties).length) {
          item('other fields', s.additionalProperties, false, 'note');
        }
        ['oneOf', 'anyOf', 'allOf'].forEach(function (k) {
          (s[k] || []).forEach(function (v, i) { item(k + ' #' + (i + 1), v, false, 'note'); });
        });
        ['if', 'then', 'else', 'not'].forEach(function (k) { if (s[k]) item(k, s[k], false, 'note'); });
        if (!s.properties && req.length) add(list, add(el('li'), el('span', 'note', 'requires ' + req.join(', '))));
        if (list.childNodes.length) add(into, list);
      }

      function securityText(sec) {
        if (sec === undefined) sec = spec.security;
        if (!sec || !sec.length) return 'none';
        return sec.map(function (r) { var k = Object.keys(r); return k.length ? k.join(' + ') : 'none'; }).join(' or ');
      }
      function contentBlocks(content, into) {
        Object.keys(content || {}).forEach(function (media) {
          add(into, el('div', 'media', media));
          var tree = el('div');
          schemaBody((content[media] || {}).schema || {}, tree, []);
          add(into, tree);
        });
      }
      function paramTable(params) {
        var table = el('table');
        add(table, add(el('tr'), el('th', null, 'Name'), el('th', null, 'In'), el('th', null, 'Required'),
          el('th', null, 'Type'), el('th', null, 'Description')));
        params.forEach(function (p) {
          var schema = p.schema || {}, resolved = deref(schema);
          var type = add(el('td'), el('code', null, typeLabel(schema)));
          var c = constraints(resolved);
          if (c.length) add(type, el('div', 'note', c.join(' · ')));
          add(table, add(el('tr'), add(el('td'), el('code', null, p.name)), el('td', null, p.in),
            el('td', null, p.required ? 'yes' : 'no'), type, rich('td', 'desc', p.description || '')));
        });
        return table;
      }
      function operationBody(path, method, op, shared, box) {
        var b = el('div', 'body');
        if (op.description) add(b, rich('p', null, op.description));
        add(b, add(el('div', 'note'), 'operationId ', el('code', null, op.operationId || '—'), ' · auth: ' + securityText(op.security)));
        var params = (shared || []).concat(op.parameters || []).map(deref);
        if (params.length) add(b, el('h4', null, 'Parameters'), paramTable(params));
        if (op.requestBody) {
          var rb = deref(op.requestBody);
          add(b, el('h4', null, 'Request body' + (rb.required ? ' (required)' : '')));
          if (rb.description) add(b, rich('div', 'desc', rb.description));
          contentBlocks(rb.content, b);
        }
        add(b, el('h4', null, 'Responses'));
        Object.keys(op.responses || {}).forEach(function (code) {
          var r = deref(op.responses[code]), row = el('div', 'resp');
          add(row, el('span', 'status s' + (/^[1-5]/.test(code) ? code.charAt(0) : 'd'), code), rich('span', null, r.description || ''));
          if (r.headers) add(row, el('div', 'note', 'Headers: ' + Object.keys(r.headers).join(', ')));
          contentBlocks(r.content, row);
          add(b, row);
        });
        add(box, b);
      }
      function operation(path, method, op, shared) {
        var d = el('details', 'op');
        d.setAttribute('data-search', [method, path, op.summary || '', op.operationId || ''].join(' ').toLowerCase());
        add(d, add(el('summary'), el('span', 'method ' + (METHODS.indexOf(method) >= 0 ? method : 'other'), method.toUpperCase()),
          el('span', 'path', path), el('span', 'sum', op.summary || '')));
        return lazy(d, function (box) { operationBody(path, method, op, shared, box); });
      }

      function render() {
        var info = spec.info || {};
        document.title = (info.title || 'API') + ' — API reference';
        var h1 = document.getElementById('title');
        h1.textContent = info.title || 'API';
        if (info.version) add(h1, el('span', 'version', 'v' + info.version));
        var desc = document.getElementById('description');
        desc.textContent = '';
        add(desc, rich('span', null, info.description || ''));
        var groups = {}, order = [];
        (spec.tags || []).forEach(function (t) { groups[t.name] = { tag: t, ops: [] }; order.push(t.name); });
        Object.keys(spec.paths || {}).forEach(function (path) {
          var item = spec.paths[path] || {};
          Object.keys(item).forEach(function (method) {
            if (METHODS.indexOf(method) < 0) return;
            var op = item[method], tag = (op.tags && op.tags[0]) || 'other';
            if (!groups[tag]) { groups[tag] = { tag: { name: tag }, ops: [] }; order.push(tag); }
            groups[tag].ops.push(operation(path, method, op, item.parameters));
          });
        });
        var root = document.getElementById('content');
        root.textContent = '';
        order.forEach(function (name) {
          var g = groups[name];
          if (!g.ops.length) return;
          var section = add(el('section', 'tag'), el('h2', null, name));
          if (g.tag.description) add(section, rich('p', 'tagdesc', g.tag.description));
          g.ops.forEach(function (o) { add(section, o); });
          add(root, section);
        });
        var schemas = (spec.components || {}).schemas || {};
        if (Object.keys(schemas).length) {
          var section = add(el('section', 'tag'), el('h2', null, 'Schemas'));
          Object.keys(schemas).forEach(function (name) {
            var d = el('details', 'schema-def');
            d.setAttribute('data-search', 'schema ' + name.toLowerCase());
            add(d, add(el('summary'), el('span', 'path', name), el('span', 'sum', typeLabel(schemas[name]))));
            add(section, lazy(d, function (box) {
              var b = el('div', 'body');
              describe(schemas[name], b, ['#/components/schemas/' + name]);
              add(box, b);
            }));
          });
          add(root, section);
        }
      }

      document.getElementById('filter').addEventListener('input', function (e) {
        var q = String(e.target.value || '').trim().toLowerCase();
        Array.prototype.forEach.call(document.querySelectorAll('section.tag'), function (section) {
          var shown = 0;
          Array.prototype.forEach.call(section.querySelectorAll(':scope > details'), function (d) {
            var hit = !q || (d.getAttribute('data-search') || '').indexOf(q) >= 0;
            d.hidden = !hit;
            if (hit) shown++;
          });
          section.hidden = shown === 0;
        });
      });

      fetch('/openapi.json', { headers: { Accept: 'application/json' } })
        .then(function (r) {
          if (!r.ok) throw new Error('GET /openapi.json answered ' + r.status);
          return r.json();
        })
        .then(function (doc) { spec = doc || {}; render(); })
        .catch(function (err) {
          var root = document.getElementById('content');
          root.textContent = '';
          add(root, el('p', 'error', 'Could not load the API document: ' + (err && err.message ? err.message : err)));
        });
    })();
    </script>
    </body>
    </html>
    """#
}
