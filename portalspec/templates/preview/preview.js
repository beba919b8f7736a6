(function () {
  "use strict";
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
  }
  function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text).catch(function () { fallbackCopy(text); });
    }
    fallbackCopy(text);
    return Promise.resolve();
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy-from]") : null;
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy-from"));
    if (!source) { return; }
    var label = button.textContent;
    copyText(source.textContent).then(function () {
      button.textContent = "Copied";
      button.classList.add("copied");
      window.setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    });
  });
}());
