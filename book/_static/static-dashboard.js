// Static dashboards: each range input picks a precomputed frame of the dashboard's figure
// (exported when the site was built); the frame's image and readout are swapped in place.
"use strict";

function setUpStaticDashboard(root) {
  const data = JSON.parse(root.querySelector("script.sd-data").textContent);
  const inputs = Array.from(root.querySelectorAll("input[data-slider]"));
  const image = root.querySelector("img.sd-frame");
  const readout = root.querySelector(".sd-readout");
  let preloaded = false;

  function show() {
    let flat = 0;
    inputs.forEach((input, k) => {
      const labels = data.sliders[k].labels;
      const i = Number(input.value);
      flat = flat * labels.length + i;
      input.setAttribute("aria-valuetext", labels[i]);
      input.nextElementSibling.textContent = labels[i];
    });
    const frame = data.frames[flat];
    image.src = data.base + frame.file;
    readout.innerHTML = frame.readout;
    root.dataset.frame = frame.file;
  }

  function preload() {  // the first touch of a slider fetches every frame: dragging is smooth
    if (preloaded) return;
    preloaded = true;
    for (const frame of data.frames) new Image().src = data.base + frame.file;
  }

  for (const input of inputs) {
    input.addEventListener("input", show);
    input.addEventListener("pointerdown", preload);
    input.addEventListener("focus", preload);
  }
  root.dataset.frame = image.getAttribute("src").split("/").pop();
  root.classList.add("sd-ready");
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-static-dashboard]").forEach(setUpStaticDashboard);
});
