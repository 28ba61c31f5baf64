// Enhances form[data-upload]: downscale photos in the browser, show real upload progress, retry without re-choosing.
(function () {
  "use strict";

  var MAX_SIDE = 2048;
  var QUALITY = 0.88;

  function downscale(file) {
    // Anything the browser cannot decode (HEIC in most browsers) goes up as chosen; the server cleans it.
    if (!window.createImageBitmap || !file.type || file.type.indexOf("image/") !== 0) {
      return Promise.resolve(file);
    }
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) { bitmap.close(); }
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve(blob ? new File([blob], (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg",
                                  { type: "image/jpeg" }) : file);
        }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return file; });
  }

  // The server answered at once (a photo identified before): show its result page in place.
  function showPage(html, url) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var next = page.getElementById("main");
    var main = document.getElementById("main");
    if (!next || !main) { return false; }
    main.innerHTML = next.innerHTML;
    document.title = page.title;
    window.history.pushState({ verdantUpload: true }, "", url);
    // Back (or forward) again: load whatever page the address now names.
    window.addEventListener("popstate", function () { window.location.reload(); });
    if (window.htmx) { window.htmx.process(main); }
    main.focus();
    window.scrollTo(0, 0);
    return true;
  }

  function enhance(form) {
    var progressBox = form.querySelector(".upload-progress");
    var bar = form.querySelector("progress");
    var status = form.querySelector(".upload-status");
    var retry = form.querySelector(".upload-retry");
    var submit = form.querySelector("button[type=submit]");
    var prepared = null;

    function chosenFiles() {
      var files = [];
      form.querySelectorAll("input[type=file]").forEach(function (input) {
        Array.prototype.forEach.call(input.files || [], function (f) { files.push(f); });
      });
      return files;
    }

    function showError(html) {
      var flash = document.getElementById("flash");
      if (flash) { flash.innerHTML = html; }
      status.textContent = "Upload failed.";
      retry.hidden = false;
      submit.disabled = false;
    }

    function send(body) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("HX-Request", "true");
      var token = form.querySelector("input[name=csrf_token]");
      if (token) { xhr.setRequestHeader("X-CSRFToken", token.value); }
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          bar.value = Math.round(event.loaded / event.total * 100);
          status.textContent = "Uploading… " + bar.value + "%";
        }
      });
      xhr.addEventListener("load", function () {
        var target = xhr.getResponseHeader("HX-Redirect");
        var answered = xhr.getResponseHeader("HX-Push-Url");
        if (xhr.status === 200 && answered && showPage(xhr.responseText, answered)) {
          return;
        }
        if (xhr.status >= 200 && xhr.status < 300 && (target || answered)) {
          bar.value = 100;
          status.textContent = "Uploaded. Identifying…";
          window.location.assign(target || answered);
        } else {
          showError(xhr.responseText || "<p class=\"flash flash-error\" role=\"alert\">Upload failed.</p>");
        }
      });
      xhr.addEventListener("error", function () {
        showError("<p class=\"flash flash-error\" role=\"alert\">The connection dropped. Your photos are still chosen: try again.</p>");
      });
      progressBox.hidden = false;
      retry.hidden = true;
      submit.disabled = true;
      bar.value = 0;
      status.textContent = "Uploading…";
      xhr.send(body);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var files = chosenFiles();
      if (!files.length) {
        showError("<p class=\"flash flash-error\" role=\"alert\">Choose a photo of your plant to identify.</p>");
        return;
      }
      progressBox.hidden = false;
      status.textContent = "Preparing photos…";
      Promise.all(files.map(downscale)).then(function (photos) {
        var body = new FormData();
        new FormData(form).forEach(function (value, key) {
          if (!(value instanceof File)) { body.append(key, value); }
        });
        photos.forEach(function (photo) { body.append("photo", photo, photo.name || "photo.jpg"); });
        prepared = body;
        send(body);
      });
    });

    retry.addEventListener("click", function () {
      if (prepared) { send(prepared); }
    });
  }

  function init() {
    document.querySelectorAll("form[data-upload]").forEach(enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
