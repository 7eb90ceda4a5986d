// WiFi License Manager: the little the pages do in the browser besides htmx.
// Every page works without it.

// A filter panel marked data-open-wide starts open on a wide screen (beside the list)
// and closed on a phone (above the list), unless the server opened it (filters in use).
document.addEventListener("DOMContentLoaded", () => {
  if (window.matchMedia("(min-width: 1024px)").matches) {
    document.querySelectorAll("details[data-open-wide]").forEach((panel) => {
      panel.open = true;
    });
  }
});

// The request form: show the limit the chosen location takes (its option's data-limit)
// and disable the other input so it is not sent. Without script both stay and the
// service decides.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("select[data-limit-select]").forEach((select) => {
    const refresh = () => {
      const option = select.options[select.selectedIndex];
      const wanted = option ? option.getAttribute("data-limit") : null;
      document.querySelectorAll("[data-limit-field]").forEach((group) => {
        const shown = !wanted || group.getAttribute("data-limit-field") === wanted;
        group.hidden = !shown;
        group.querySelectorAll("input").forEach((input) => {
          input.disabled = !shown;
        });
      });
      document.querySelectorAll("#limit-field .hint").forEach((hint) => {
        hint.hidden = Boolean(wanted);
      });
    };
    select.addEventListener("change", refresh);
    refresh();
  });
});

// The verify page: the certificate's QR code opens it with the signed token in the URL's
// fragment (which no server sees); put it in the form and send it. Without script, the
// token is pasted by hand.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-verify]");
  const token = window.location.hash.slice(1);
  if (!form || !token) {
    return;
  }
  let text = token;
  try {
    text = decodeURIComponent(token);
  } catch {
    // not percent-encoded: the token as it came; the service says what is wrong with it
  }
  form.querySelector("textarea").value = text;
  form.requestSubmit();
});
