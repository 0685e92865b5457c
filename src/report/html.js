// The call under the pointer or the keyboard focus: its times, under its timeline.
for (const fig of document.querySelectorAll("figure.timeline")) {
  const tip = fig.querySelector(".tip");
  const show = (e) => {
    const g = e.target.closest("g.call");
    if (g) tip.textContent = g.querySelector("title").textContent;
  };
  fig.addEventListener("mouseover", show);
  fig.addEventListener("focusin", show);
}
// A link to an output opens it.
function openTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  const el = id && document.getElementById(id);
  if (el && el.tagName === "DETAILS") el.open = true;
}
window.addEventListener("hashchange", openTarget);
openTarget();
