// Draws every chart of a page: an element with data-figure="<id>" takes the plotly.js figure
// held as JSON in the <script type="application/json" id="<id>"> element (no inline script:
// the console's Content-Security-Policy allows scripts from the console only).
"use strict";
(function () {
  function draw() {
    if (typeof Plotly === "undefined") {
      return;
    }
    document.querySelectorAll("[data-figure]").forEach(function (target) {
      var source = document.getElementById(target.getAttribute("data-figure"));
      if (!source) {
        return;
      }
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(target, figure.data, figure.layout, {
        responsive: true,
        displaylogo: false,
      }).then(function () {
        target.setAttribute("data-drawn", "1");
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

// The command builder: show only the fields of the chosen kind (every field stays in the page
// without scripts; the server reads only the chosen kind's).
(function () {
  function sync(select) {
    var kind = select.value;
    document.querySelectorAll("[data-kinds]").forEach(function (part) {
      var kinds = part.getAttribute("data-kinds").split(" ");
      part.hidden = kinds.indexOf(kind) < 0;
    });
  }
  function start() {
    var select = document.getElementById("kind");
    if (!select) {
      return;
    }
    select.addEventListener("change", function () {
      sync(select);
    });
    sync(select);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
