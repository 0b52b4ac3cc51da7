// The explorer page: talks to the JSON API under /api/ (zfnet/app/server.py).
const S = {image: null, layer: null, channel: null, model: null, clicks: 0, topkTimer: null};
const $ = id => document.getElementById(id);
async function api(url, opts) {
  const r = await fetch(url, opts);
  const j = await r.json();
  if (!r.ok) { throw new Error(j.error || r.statusText); }
  return j;
}
function showError(e) { $("error").textContent = e ? String(e.message || e) : ""; }
function esc(s) { const d = document.createElement("span"); d.textContent = s; return d.innerHTML; }
function busy(id, on) { $(id).hidden = !on; }

function clearProjection() {
  for (const k of ["projection", "patch", "projpatch"]) { $(k).removeAttribute("src"); }
  $("projpair").hidden = true; $("projinfo").textContent = ""; $("projhint").hidden = false;
}
function clearTopk(text) {
  if (S.topkTimer) { clearTimeout(S.topkTimer); S.topkTimer = null; }
  $("topk").innerHTML = ""; $("topkprogress").hidden = true;
  $("topkinfo").textContent = text || "Click a feature map: its 9 strongest activations over the dataset, projected.";
}
function clearOcclusion() {
  $("occmap").removeAttribute("src"); $("occmap").hidden = true;
  $("occinfo").textContent = "The probability of the top class for every position of a grey square, drawn over the image.";
}

async function init() {
  const m = await api("/api/model"); S.model = m;
  $("modelinfo").textContent = m.name + " · " + m.checkpoint + " · input " + m.input_shape.join("x") +
    (m.dataset ? " · " + m.dataset : "");
  for (const l of m.layers) { $("layer").add(new Option(l.name + " (" + l.channels + ")", l.name)); }
  for (const me of m.methods) { $("method").add(new Option(me, me)); }
  S.layer = m.layers.length ? m.layers[0].name : null;
  const s = await api("/api/samples");
  for (const x of s.samples) {
    const im = document.createElement("img"); im.src = x.url; im.className = "px"; im.title = x.label;
    im.alt = x.label; im.dataset.id = x.id;
    im.onclick = () => selectImage(x.id, "sample: " + x.label); $("samples").append(im);
  }
  if (s.samples.length) { selectImage(s.samples[0].id, "sample: " + s.samples[0].label); }
  else { $("note").textContent = "No sample images for this model: upload a PNG or JPEG."; }
}

async function selectImage(id, note) {
  S.image = id; S.channel = null;
  for (const im of $("samples").children) { im.classList.toggle("sel", im.dataset.id === id); }
  $("current").src = "/api/image/" + id; $("note").textContent = note || "";
  clearProjection(); clearOcclusion(); clearTopk();
  try {
    const p = await api("/api/predict?image=" + id);
    $("top5").innerHTML = p.top5.map(c => "<li>" + esc(c.class) + " " + (100 * c.probability).toFixed(1) +
      '%<span class="bar" style="width:' + Math.round(120 * c.probability) + 'px"></span></li>').join("");
    await loadMaps();
  } catch (e) { showError(e); }
}

function layerInfo() { return S.model.layers.find(l => l.name === S.layer); }

async function loadMaps() {
  showError(null); $("maps").innerHTML = "";
  if (!S.image || !S.layer) return;
  busy("mapsbusy", true);
  try {
    const f = await api("/api/features?top=24&image=" + S.image + "&layer=" + S.layer);
    const haveTopk = new Set(layerInfo() ? layerInfo().topk_channels : []);
    for (const m of f.maps) {
      const fig = document.createElement("figure"); fig.dataset.channel = m.channel;
      fig.innerHTML = '<img class="px" alt="map ' + m.channel + '" src="' + m.overlay + '"><figcaption>#' +
        m.channel + (haveTopk.has(m.channel) ? "*" : "") + " max " + m.max.toFixed(2) + "</figcaption>";
      fig.onclick = () => selectMap(m.channel);
      $("maps").append(fig);
    }
  } finally { busy("mapsbusy", false); }
}

async function selectMap(ch) {
  S.channel = ch; S.clicks += 1;
  $("hint").hidden = true;
  for (const f of $("maps").children) { f.classList.toggle("sel", Number(f.dataset.channel) === ch); }
  showError(null); clearProjection(); clearTopk("");
  $("projhint").hidden = true; busy("projbusy", true);
  const method = $("method").value, layer = S.layer, image = S.image, click = S.clicks;
  try {
    const p = await api("/api/project?image=" + image + "&layer=" + layer + "&channel=" + ch + "&method=" + method);
    if (click !== S.clicks) return;  // a newer click took over
    $("projection").src = p.projection; $("patch").src = p.patch; $("projpatch").src = p.projection_patch;
    $("projpair").hidden = false;
    $("projinfo").textContent = layer + " #" + ch + " (" + method + ", unit " + p.unit.join(",") +
      ", " + (1000 * p.seconds).toFixed(0) + " ms)";
  } catch (e) { showError(e); $("projhint").hidden = false; }
  finally { if (click === S.clicks) busy("projbusy", false); }
  loadTopk(layer, ch, click);
}

async function loadTopk(layer, ch, click) {
  if (click !== S.clicks) return;
  try {
    const t = await api("/api/topk?layer=" + layer + "&channel=" + ch);
    if (click !== S.clicks) return;
    if (t.status === "computing") {
      $("topkinfo").textContent = "computing the dataset top-9 of " + layer + " #" + ch + "…";
      $("topkprogress").hidden = false; $("topkprogress").value = t.progress;
      S.topkTimer = setTimeout(() => loadTopk(layer, ch, click), 400);
      return;
    }
    $("topkprogress").hidden = true;
    const lay = layerInfo();
    if (lay && !lay.topk_channels.includes(ch)) { lay.topk_channels.push(ch); }
    $("topkinfo").textContent = layer + " #" + ch + ": projection, image (strongest first)";
    $("topk").innerHTML = t.items.map(it => '<img class="px" alt="projection" title="activation ' +
      it.activation.toFixed(2) + '" src="' + it.projection + '">' +
      (it.image ? '<img class="px" alt="image ' + it.image_index + '" src="' + it.image + '">' : "")).join(" ");
  } catch (e) { $("topkprogress").hidden = true; $("topkinfo").textContent = e.message; }
}

$("layer").onchange = () => {
  S.layer = $("layer").value; S.channel = null; S.clicks += 1;
  clearProjection(); clearTopk(); loadMaps().catch(showError);
};
$("method").onchange = () => { clearProjection(); if (S.channel !== null) selectMap(S.channel); };
$("upload").onchange = async () => {
  const file = $("upload").files[0]; if (!file) return;
  const fd = new FormData(); fd.append("image", file);
  try { const u = await api("/api/upload", {method: "POST", body: fd}); await selectImage(u.id, "upload: " + u.note); }
  catch (e) { showError(e); $("note").textContent = "upload failed: " + e.message; }
};
$("occlude").onclick = async () => {
  if (!S.image) return;
  clearOcclusion(); busy("occbusy", true); $("occinfo").textContent = "";
  try {
    const o = await api("/api/occlusion?image=" + S.image);
    $("occmap").src = o.map; $("occmap").hidden = false;
    $("occinfo").textContent = "P(" + o.class + ") for each position of a " + o.size + "px grey square, over the image " +
      "(unoccluded " + (100 * o.p_unoccluded).toFixed(1) + "%); red high, blue low";
  } catch (e) { $("occinfo").textContent = e.message; }
  finally { busy("occbusy", false); }
};
init().catch(showError);
