// The admin panel's event wiring. Flask-Admin puts it in inline handlers (onclick="..."), which
// our CSP blocks, so its templates are overridden to carry data- attributes and this file acts
// on them: confirm before a delete form is sent, run the "With selected" actions, select all rows,
// add inline sub-forms, and keep javascript: links from running (the CSP would block them too).
(function () {
  "use strict";

  function ask(message) {
    try {
      return window.confirm(message);
    } catch (e) {
      return false;  // a browser that refuses dialogs does not get to delete
    }
  }

  function rowBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("input.action-checkbox"));
  }

  // Row "Delete" and any other form marked data-confirm.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !ask(message)) {
      event.preventDefault();
    }
  });

  function runAction(button) {
    var form = document.getElementById("action_form");
    if (!form) {
      return;
    }
    var selected = rowBoxes().filter(function (box) { return box.checked; });
    if (!selected.length) {
      var messages = document.getElementById("action-messages");
      window.alert(messages ? messages.getAttribute("data-none-selected") : "");
      return;
    }
    var message = button.getAttribute("data-confirm");
    if (message && !ask(message)) {
      return;
    }
    form.querySelector("input[name='action']").value = button.getAttribute("data-admin-action");
    Array.prototype.forEach.call(form.querySelectorAll("input[name='rowid']"), function (old) {
      old.remove();
    });
    selected.forEach(function (box) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "rowid";
      input.value = box.value;
      form.appendChild(input);
    });
    // The form has an input named "action", so call the prototype's submit, not form.submit.
    HTMLFormElement.prototype.submit.call(form);
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("a[href^='javascript:'], [data-admin-action], [data-inline-add]");
    if (!target) {
      return;
    }
    event.preventDefault();
    if (target.hasAttribute("data-admin-action")) {
      runAction(target);
    } else if (target.hasAttribute("data-inline-add") && window.faForm) {
      window.faForm.addInlineField(target, target.getAttribute("data-inline-add"));
    }
  }, true);

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches("input.action-rowtoggle")) {
      rowBoxes().forEach(function (row) { row.checked = box.checked; });
    } else if (box.matches("input.action-checkbox")) {
      var all = rowBoxes().every(function (row) { return row.checked; });
      Array.prototype.forEach.call(document.querySelectorAll("input.action-rowtoggle"), function (toggle) {
        toggle.checked = all;
      });
    }
  });
})();
