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

// The licenses list's bulk bar: "select every row of this page", the count of what is
// selected, and the years shown for a renewal only. The rows' checkboxes belong to the
// bar's form (form="bulk-form"), so htmx swapping the results swaps them together.
// Without script the checked rows and the bar's fields are sent as they are, and the
// confirmation page says how many.
(() => {
  const rowBoxes = () =>
    Array.from(document.querySelectorAll('input[form="bulk-form"][name="id"]'));
  const refresh = () => {
    const form = document.getElementById("bulk-form");
    if (!form) {
      return;
    }
    const boxes = rowBoxes();
    const checked = boxes.filter((box) => box.checked).length;
    const page = document.querySelector("input[data-bulk-page]");
    if (page) {
      page.hidden = false;
      page.checked = boxes.length > 0 && checked === boxes.length;
      page.indeterminate = checked > 0 && checked < boxes.length;
    }
    const all = form.querySelector("input[data-bulk-all]");
    const count = form.querySelector("[data-bulk-count]");
    if (count) {
      let text = count.dataset.none;
      if (all && all.checked) {
        text = count.dataset.all;
      } else if (checked === 1) {
        text = count.dataset.one;
      } else if (checked > 1) {
        text = count.dataset.many.replace("{count}", String(checked));
      }
      count.textContent = text;
      count.hidden = false;
    }
    const action = form.querySelector('select[name="action"]');
    const years = form.querySelector("[data-bulk-years]");
    if (action && years) {
      years.hidden = action.value !== "renew";
    }
  };
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLElement)) {
      return;
    }
    if (target.matches("input[data-bulk-page]")) {
      rowBoxes().forEach((box) => {
        box.checked = target.checked;
      });
    }
    if (target.closest("#bulk-form") || target.matches('[form="bulk-form"], [data-bulk-page]')) {
      refresh();
    }
  });
  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
})();

// Layout and accessibility (docs/pages.md): a table wider than its box scrolls inside it;
// such a box takes the keyboard focus (tabindex=0) so it can be scrolled without a mouse,
// and only while it does scroll (no empty tab stops). Checked on load, after each htmx
// swap and when the window changes size.
(() => {
  const SCROLLERS = ".overflow-auto, .table-scroll";
  const mark = () => {
    document.querySelectorAll(SCROLLERS).forEach((box) => {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.tabIndex = 0;
        box.dataset.scrolls = "true";
      } else if (box.dataset.scrolls) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrolls;
      }
    });
  };
  let pending = 0;
  const later = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(mark, 100);
  };
  document.addEventListener("DOMContentLoaded", mark);
  document.addEventListener("htmx:afterSettle", mark);
  document.addEventListener("toggle", later, true); // a <details> opened: its tables laid out
  window.addEventListener("resize", later);
})();

// The license view (templates/licenses/license_detail.html) and the request form.
//
// Copy key: the button shows only where the browser lets the page write to the
// clipboard; the status beside it then says "Copied" (the button's data-copied-text).
// Without script the button stays hidden and the key is selectable text.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy-key]").forEach((button) => {
    const source = document.querySelector(button.dataset.copyKey);
    const status = button.parentElement.querySelector("[role=status]");
    if (!source || !status || !navigator.clipboard || !window.isSecureContext) {
      return;
    }
    let timer = 0;
    button.hidden = false;
    button.addEventListener("click", async () => {
      let said = button.dataset.copiedText;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
      } catch {
        said = button.dataset.copyFailedText;
      }
      status.textContent = said;
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        status.textContent = ""; // so that the next copy is announced again
      }, 5000);
    });
  });
});

// Action dialogs: htmx puts a <dialog data-modal> into #dialog (the action links'
// hx-target). It opens as a modal (showModal: the page behind is inert, Escape closes
// it), focus moves to its first field and Tab goes round inside it (the browser would
// let it leave for its own toolbar); once closed (Escape, its Close button) it is
// removed and focus returns to the link that opened it. Without script the links open
// the confirmation page.
(() => {
  const FOCUSABLE =
    "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])";
  const keepTabInside = (dialog, event) => {
    if (event.key !== "Tab") {
      return;
    }
    const stops = Array.from(dialog.querySelectorAll(FOCUSABLE)).filter(
      (element) => !element.disabled && element.getClientRects().length > 0,
    );
    if (stops.length === 0) {
      return;
    }
    const first = stops[0];
    const last = stops[stops.length - 1];
    const inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (!inside || document.activeElement === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
  };
  let opener = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.target && event.detail.target.id === "dialog") {
      opener = event.detail.elt;
    }
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    const box = event.detail.target;
    const dialog = box && box.id === "dialog" ? box.querySelector("dialog[data-modal]") : null;
    if (!dialog || dialog.open) {
      return;
    }
    const returnTo = opener;
    dialog.addEventListener("keydown", (event) => keepTabInside(dialog, event));
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (returnTo && returnTo.isConnected) {
        returnTo.focus();
      }
    });
    dialog.showModal();
    const field = dialog.querySelector(
      "form[method=post] :is(input, select, textarea):not([type=hidden], [disabled])",
    );
    if (field) {
      field.focus();
    }
  });
})();

// The request form: the warning about the chosen location's license (its option's
// data-license-note) follows the select. Without script the page shows it for the
// location it was opened or sent back with, and the next page after sending.
document.addEventListener("DOMContentLoaded", () => {
  const note = document.getElementById("location-license-note");
  const select = document.querySelector("select[data-limit-select]");
  if (!note || !select) {
    return;
  }
  const refresh = () => {
    const option = select.options[select.selectedIndex];
    const text = (option && option.getAttribute("data-license-note")) || "";
    note.textContent = text;
    note.hidden = !text;
  };
  select.addEventListener("change", refresh);
  refresh();
});

// The request form's location search (more locations than a select holds): htmx puts the
// matching locations into the select as one types; the limit inputs and the license
// warning then follow the select's new choice, as they do on a change. Without script
// the search reloads the page with ?location_q=.
document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (target instanceof HTMLSelectElement && target.matches("[data-limit-select]")) {
    target.dispatchEvent(new Event("change"));
  }
});
