// The return page after paying online: asks the status endpoint every three seconds whether the
// payment provider's (verified) webhook has confirmed the payment. When the state changes, the
// page is loaded once more for the final text ("Betaald", or that it failed); the status region
// is a polite live region, so a screen reader hears it. Without JavaScript the page offers a
// "Status vernieuwen" link instead.
(function () {
  "use strict";
  var box = document.querySelector("[data-pay-status-url]");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-pay-status-url");
  var shown = box.getAttribute("data-state");
  var tries = 0;

  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        if (body.state !== shown) {
          window.location.reload();
        } else if (tries < 200) {
          window.setTimeout(poll, 3000);
        }
      })
      .catch(function () {
        if (tries < 200) {
          window.setTimeout(poll, 6000);
        }
      });
  }

  window.setTimeout(poll, 1500);
})();
