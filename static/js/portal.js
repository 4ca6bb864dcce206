/* The portal's behaviour beyond htmx, run on every page and on every piece htmx swaps in (no
   inline script: the Content-Security-Policy allows only this site's own files). */
(function () {
  /* A setting with alternatives: only the chosen alternative's fields show. Without JavaScript
     every alternative shows, grouped under its name, and the server reads the one the select chose. */
  function showChosenBranches(root) {
    root.querySelectorAll("select[data-branch-select]").forEach(function (select) {
      var choice = select.closest("[data-choice]");
      function show() {
        choice.querySelectorAll(":scope > fieldset[data-branch]").forEach(function (branch) {
          branch.hidden = branch.disabled = branch.dataset.branch !== select.value;
        });
      }
      select.addEventListener("change", show);
      show();
    });
  }

  htmx.onLoad(showChosenBranches);
})();
