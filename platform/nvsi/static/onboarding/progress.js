// Provisioning progress on an application's page: asks the status endpoint every two seconds
// and updates the steps, the progress bar and the summary (a polite live region), so a screen
// reader hears the change without the page reloading under the reader's cursor. When the job has
// finished, the page is loaded once more for the final state (link to the tenant, or the error
// and the retry button). Without JavaScript the page offers a refresh link instead.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box || box.getAttribute("data-finished") === "true") {
    return;
  }
  var url = box.getAttribute("data-progress-url");
  var bar = box.querySelector("progress");
  var summary = box.querySelector("[data-summary]");
  var lastSummary = summary ? summary.textContent : "";

  function update(job) {
    var done = 0;
    job.steps.forEach(function (step) {
      var item = box.querySelector('[data-step="' + step.key + '"]');
      if (step.state === "done") {
        done += 1;
      }
      if (!item || item.getAttribute("data-state") === step.state) {
        return;
      }
      item.setAttribute("data-state", step.state);
      var state = item.querySelector(".step-state");
      if (state) {
        state.textContent = box.getAttribute("data-label-" + step.state) || step.state;
      }
    });
    if (bar) {
      bar.value = done;
      bar.textContent = done + " / " + job.steps.length;
    }
    var running = job.steps.filter(function (step) { return step.state === "running"; })[0];
    var text = done + " / " + job.steps.length + (running ? ": " + running.label : "");
    if (summary && text !== lastSummary) {
      summary.textContent = text;
      lastSummary = text;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (job) {
        update(job);
        if (job.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }

  window.setTimeout(poll, 1000);
})();
