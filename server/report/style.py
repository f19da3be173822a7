"""The report's stylesheet: system fonts, soft tables, verdict badges (inlined into the page)."""

CSS = """
:root { --ink:#1f2933; --muted:#5f6b7a; --line:#dde3ea; --soft:#f5f7fa; --accent:#2f5d8a;
  --pass:#1e8449; --fail:#c0392b; --amber:#b9770e; }
* { box-sizing:border-box; }
body { margin:0; background:#fff; color:var(--ink);
  font:15px/1.55 -apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",Arial,sans-serif; }
main { max-width:1240px; margin:0 auto; padding:28px 24px 64px; }
header.top { border-bottom:3px solid var(--accent); padding-bottom:14px; margin-bottom:22px; }
h1 { font-size:28px; margin:0 0 4px; letter-spacing:-0.01em; }
h1 .brand { color:var(--accent); }
h2 { font-size:21px; margin:38px 0 10px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h3 { font-size:16px; margin:24px 0 8px; }
.sub { color:var(--muted); font-size:13.5px; }
nav.toc { font-size:13.5px; margin:10px 0 0; }
nav.toc a { color:var(--accent); margin-right:14px; text-decoration:none; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(190px,1fr)); gap:12px; margin:16px 0; }
.card { background:var(--soft); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:0.05em; }
.card .v { font-size:18px; font-weight:600; overflow-wrap:anywhere; }
.card .d { color:var(--muted); font-size:12.5px; overflow-wrap:anywhere; }
ul.summary { margin:8px 0 0; padding-left:20px; }
ul.summary li { margin:3px 0; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; margin:8px 0 14px; font-size:13px; }
th, td { text-align:left; padding:5px 7px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--soft); font-weight:600; color:#364152; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.worse td { background:#fdf0ee; }
tr.better td { background:#eef8f1; }
.worse-text { color:var(--fail); font-weight:600; }
.better-text { color:var(--pass); font-weight:600; }
.badge { display:inline-block; padding:2px 10px; border-radius:999px; color:#fff; font-weight:700;
  font-size:12.5px; letter-spacing:0.04em; }
.badge.pass { background:var(--pass); } .badge.fail { background:var(--fail); }
.badge.inconclusive { background:var(--amber); } .badge.other { background:var(--muted); }
.swatch { display:inline-block; width:11px; height:11px; border-radius:2px; margin-right:6px; vertical-align:-1px; }
.verdict { border:1px solid var(--line); border-radius:8px; padding:10px 14px; margin:10px 0; }
.verdict .head { font-size:16px; }
figure { margin:8px 0 2px; }
figure img { max-width:100%; height:auto; display:block; }
.definition { color:var(--muted); font-size:12.5px; margin:0 0 6px; }
.note { color:var(--muted); font-size:13px; }
.gen { border:1px solid var(--line); border-radius:8px; margin:12px 0; overflow:hidden; }
.gen .meta { background:var(--soft); padding:6px 12px; font-size:13px; color:#364152; }
.gen .prompt { padding:8px 12px; border-bottom:1px solid var(--line); font-size:13.5px; }
.gen .pair { display:grid; grid-template-columns:1fr 1fr; }
.gen .side { padding:8px 12px; font-size:13.5px; }
.gen .side + .side { border-left:1px solid var(--line); }
.gen .label, .gen .who { font-size:12px; color:var(--muted); letter-spacing:0.04em; }
.gen .label { text-transform:uppercase; }
.text { white-space:pre-wrap; overflow-wrap:anywhere; max-height:14em; overflow:auto; }
details { margin:10px 0; }
summary { cursor:pointer; color:var(--accent); }
pre.config { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:10px;
  font-size:12.5px; overflow:auto; max-height:30em; }
footer { margin-top:40px; color:var(--muted); font-size:12.5px; border-top:1px solid var(--line); padding-top:10px; }
"""
