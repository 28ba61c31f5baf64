// Search-as-you-type: no request for fewer than data-min-length characters, and clear old hits.
document.addEventListener("htmx:confirm", function (event) {
  var input = event.detail.elt;
  if (!input || !input.dataset || !input.dataset.minLength) return;
  if (input.value.trim().length < Number(input.dataset.minLength)) {
    event.preventDefault();
    var target = document.querySelector(input.getAttribute("hx-target"));
    if (target) target.innerHTML = "";
  }
});
