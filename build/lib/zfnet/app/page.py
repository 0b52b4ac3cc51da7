"""The explorer page: one HTML file with its CSS and JavaScript inline (no CDN, works offline)."""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zfnet explorer</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#234;color:#fff;padding:8px 16px}
header h1{font-size:18px;margin:0;display:inline}
header span{opacity:.8;margin-left:12px}
main{display:grid;grid-template-columns:260px 1fr 330px;gap:12px;padding:12px;max-width:1400px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
h2{font-size:15px;margin:0 0 8px}
img.px{image-rendering:pixelated}
#samples{display:flex;flex-wrap:wrap;gap:4px}
#samples img{width:48px;height:48px;cursor:pointer;border:2px solid transparent}
#samples img.sel{border-color:#e60}
#current{width:168px;height:168px;display:block;margin:8px 0}
#note{color:#666;font-size:12px;min-height:1em}
#top5 li{margin:2px 0}
.bar{display:inline-block;height:8px;background:#48c;vertical-align:middle;margin-left:6px}
#maps{display:grid;grid-template-columns:repeat(auto-fill,minmax(92px,1fr));gap:6px}
#maps figure{margin:0;cursor:pointer;border:2px solid transparent;text-align:center;font-size:11px}
#maps figure.sel{border-color:#e60}
#maps img{width:84px;height:84px}
.pair{display:flex;gap:8px;flex-wrap:wrap}
.pair figure{margin:0;text-align:center;font-size:11px}
.pair img{width:112px;height:112px;background:#eee}
#topk img{width:48px;height:48px}
#error{color:#b00;min-height:1em}
select,button{font:inherit}
@media (max-width:1100px){main{grid-template-columns:1fr 1fr}#right{grid-column:1 / span 2}}
</style></head><body>
<header><h1>zfnet explorer</h1><span id="modelinfo">loading…</span></header>
<main>
<div id="left">
<section><h2>Image</h2>
<div id="samples"></div>
<p><label>Upload PNG/JPEG: <input type="file" id="upload" accept="image/png,image/jpeg"></label></p>
<img id="current" class="px" alt="current image">
<div id="note"></div>
</section>
<section><h2>Top-5 classes</h2><ol id="top5"></ol></section>
</div>
<div id="middle">
<section><h2>Feature maps
<select id="layer" aria-label="layer"></select>
<select id="method" aria-label="projection method"></select></h2>
<div id="error"></div>
<div id="maps"></div>
</section>
</div>
<div id="right">
<section><h2>Projection <span id="projinfo"></span></h2>
<div class="pair">
<figure><img id="projection" class="px" alt="projection"><figcaption>projection</figcaption></figure>
<figure><img id="patch" class="px" alt="input patch"><figcaption>input patch</figcaption></figure>
<figure><img id="projpatch" class="px" alt="projection patch"><figcaption>projection, same patch</figcaption></figure>
</div></section>
<section><h2>Occlusion <button id="occlude">run</button></h2>
<div class="pair"><figure><img id="occmap" class="px" alt="occlusion map"><figcaption id="occinfo">probability of the top class per occluder position</figcaption></figure></div>
</section>
<section><h2>Dataset top-9</h2><div id="topk">pick a feature map</div></section>
</div>
</main>
<script>
const S = {image: null, layer: null, channel: null, model: null};
const $ = id => document.getElementById(id);
async function api(url, opts) {
  const r = await fetch(url, opts);
  const j = await r.json();
  if (!r.ok) { throw new Error(j.error || r.statusText); }
  return j;
}
function showError(e) { $("error").textContent = e ? String(e.message || e) : ""; }
function esc(s) { const d = document.createElement("span"); d.textContent = s; return d.innerHTML; }

async function init() {
  const m = await api("/api/model"); S.model = m;
  $("modelinfo").textContent = m.name + " · " + m.checkpoint + " · input " + m.input_shape.join("x") +
    (m.dataset ? " · " + m.dataset : "");
  for (const l of m.layers) { const o = new Option(l.name + " (" + l.channels + ")", l.name); $("layer").add(o); }
  for (const me of m.methods) { $("method").add(new Option(me, me)); }
  S.layer = m.layers.length ? m.layers[0].name : null;
  const s = await api("/api/samples");
  for (const x of s.samples) {
    const im = document.createElement("img"); im.src = x.url; im.className = "px"; im.title = x.label;
    im.dataset.id = x.id; im.onclick = () => selectImage(x.id, "sample: " + x.label); $("samples").append(im);
  }
  if (s.samples.length) { selectImage(s.samples[0].id, "sample: " + s.samples[0].label); }
}

async function selectImage(id, note) {
  S.image = id; S.channel = null;
  for (const im of $("samples").children) { im.classList.toggle("sel", im.dataset.id === id); }
  $("current").src = "/api/image/" + id; $("note").textContent = note || "";
  for (const k of ["projection", "patch", "projpatch", "occmap"]) { $(k).removeAttribute("src"); }
  $("projinfo").textContent = "";
  try {
    const p = await api("/api/predict?image=" + id);
    $("top5").innerHTML = p.top5.map(c => "<li>" + esc(c.class) + " " + (100 * c.probability).toFixed(1) +
      '%<span class="bar" style="width:' + Math.round(120 * c.probability) + 'px"></span></li>').join("");
    await loadMaps();
  } catch (e) { showError(e); }
}

async function loadMaps() {
  showError(null); $("maps").innerHTML = "";
  if (!S.image || !S.layer) return;
  const f = await api("/api/features?top=24&image=" + S.image + "&layer=" + S.layer);
  const lay = S.model.layers.find(l => l.name === S.layer);
  const haveTopk = new Set(lay ? lay.topk_channels : []);
  if (haveTopk.size) { $("topk").textContent = "dataset top-9 computed for maps " + [...haveTopk].join(", ") + " (marked *)"; }
  for (const m of f.maps) {
    const fig = document.createElement("figure"); fig.dataset.channel = m.channel;
    fig.innerHTML = '<img class="px" alt="map ' + m.channel + '" src="' + m.overlay + '"><figcaption>#' +
      m.channel + (haveTopk.has(m.channel) ? "*" : "") + " max " + m.max.toFixed(2) + "</figcaption>";
    fig.onclick = () => selectMap(m.channel);
    $("maps").append(fig);
  }
}

async function selectMap(ch) {
  S.channel = ch;
  for (const f of $("maps").children) { f.classList.toggle("sel", Number(f.dataset.channel) === ch); }
  showError(null);
  try {
    const method = $("method").value;
    const p = await api("/api/project?image=" + S.image + "&layer=" + S.layer + "&channel=" + ch + "&method=" + method);
    $("projection").src = p.projection; $("patch").src = p.patch; $("projpatch").src = p.projection_patch;
    $("projinfo").textContent = S.layer + " #" + ch + " (" + method + ", unit " + p.unit.join(",") +
      ", " + (1000 * p.seconds).toFixed(0) + " ms)";
  } catch (e) { showError(e); }
  try {
    const t = await api("/api/topk?layer=" + S.layer + "&channel=" + ch);
    $("topk").innerHTML = t.items.map(it => '<img class="px" title="activation ' + it.activation.toFixed(2) +
      '" src="' + it.projection + '">' + (it.image ? '<img class="px" src="' + it.image + '">' : "")).join(" ");
  } catch (e) { $("topk").textContent = e.message; }
}

$("layer").onchange = () => { S.layer = $("layer").value; S.channel = null; loadMaps().catch(showError); };
$("method").onchange = () => { if (S.channel !== null) selectMap(S.channel); };
$("upload").onchange = async () => {
  const file = $("upload").files[0]; if (!file) return;
  const fd = new FormData(); fd.append("image", file);
  try { const u = await api("/api/upload", {method: "POST", body: fd}); await selectImage(u.id, "upload: " + u.note); }
  catch (e) { showError(e); $("note").textContent = "upload failed: " + e.message; }
};
$("occlude").onclick = async () => {
  if (!S.image) return;
  $("occinfo").textContent = "running…";
  try {
    const o = await api("/api/occlusion?image=" + S.image);
    $("occmap").src = o.map;
    $("occinfo").textContent = "P(" + o.class + ") per position of a " + o.size + "px grey square (unoccluded " +
      (100 * o.p_unoccluded).toFixed(1) + "%); red high, blue low";
  } catch (e) { $("occinfo").textContent = e.message; }
};
init().catch(showError);
</script></body></html>
"""
