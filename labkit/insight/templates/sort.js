(function(){
  function key(row, col, num){
    var cell = row.cells[col]; if (!cell) return num ? -Infinity : "";
    var v = cell.getAttribute("data-sort"); if (v === null) v = cell.textContent.trim();
    if (!num) return v.toLowerCase();
    var f = parseFloat(v); return isNaN(f) ? -Infinity : f;
  }
  document.querySelectorAll("table.sortable").forEach(function(table){
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function(th, col){
      th.title = "click to sort";
      th.addEventListener("click", function(){
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function(h){ h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var num = th.getAttribute("data-type") === "num", body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = key(a, col, num), y = key(b, col, num);
          var c = x < y ? -1 : (x > y ? 1 : 0);
          return asc ? c : -c;
        });
        rows.forEach(function(r){ body.appendChild(r); });
      });
    });
    table.setAttribute("data-sortable", "ready");
  });
})();
