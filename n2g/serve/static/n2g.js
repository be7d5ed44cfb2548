// n2g serve: sortable tables, a text's tokens opening their neurons, Enter in the box searches. No libraries.
(function () {
  "use strict";
  function key(cell) {
    var text = cell.getAttribute("data-sort");
    if (text === null) { text = cell.textContent; }
    var number = parseFloat(text);
    return text !== "" && isFinite(number) && /^-?[0-9.eE+-]+$/.test(text.trim()) ? number : text.toLowerCase();
  }
  function sortBy(table, column, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = th.getAttribute("aria-sort") !== "descending";
    rows.sort(function (a, b) {
      var x = key(a.cells[column]), y = key(b.cells[column]);
      var empty = (x === "" || x === "–") - (y === "" || y === "–");
      if (empty) { return empty; }  // cells without a value go last, either way
      if (typeof x === "number" && typeof y === "number") { return descending ? y - x : x - y; }
      return descending ? String(y).localeCompare(String(x)) : String(x).localeCompare(String(y));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.addEventListener("click", function () { sortBy(table, column, th); });
    });
  });
  var tokens = document.querySelectorAll(".text-token");
  Array.prototype.forEach.call(tokens, function (button) {
    button.addEventListener("click", function () {
      var pos = button.getAttribute("data-pos");
      Array.prototype.forEach.call(document.querySelectorAll(".token-neurons"), function (panel) {
        panel.hidden = panel.getAttribute("data-pos") !== pos;
      });
      Array.prototype.forEach.call(tokens, function (other) { other.classList.toggle("open", other === button); });
    });
  });
  var first = document.querySelector(".text-token.fires");  // a text search opens its first token with neurons
  if (first) { first.click(); }
  var box = document.getElementById("q");
  if (box) {
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); box.form.requestSubmit(); }
    });
  }
})();
