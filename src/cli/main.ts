console.log('ecom: not yet');
